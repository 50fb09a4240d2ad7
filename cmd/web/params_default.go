//go:build !benchcost

package main

import "github.com/sessionlogin/sessionlogin/internal/auth"

// argon2Params are the password hashing parameters of new hashes. A build
// with the benchcost tag replaces them (see params_benchcost.go).
var argon2Params = auth.DefaultArgon2Params
