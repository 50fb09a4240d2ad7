//go:build benchcost

package main

import "github.com/sessionlogin/sessionlogin/internal/auth"

// argon2Params, in a build for benchmarks only (go build -tags benchcost),
// are cheap argon2id parameters: m=1 MiB, t=1, p=1, about the cost of the
// bcrypt cost-4 hash of the Express original, so that a login benchmark
// compares the session layers rather than the hash costs. Never deploy
// this build: such hashes are cheap to crack.
var argon2Params = auth.Argon2Params{
	Memory:      1024,
	Iterations:  1,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}
