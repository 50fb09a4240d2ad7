// Command hellogo is the load test's ceiling: a bare net/http "hello world"
// on this machine, to compare the service against. It is never deployed.
//
//	ADDR=127.0.0.1:8090 go run ./scripts/hellogo
package main

import (
	"cmp"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8090")
	body := []byte("Hello, world!\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(body)
	})
	log.Printf("hellogo listening on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
