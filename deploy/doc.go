// Package deploy holds the reference production deployment: the container
// image recipe (Dockerfile) and the Patroni, etcd and HAProxy setup under
// ha/. Its Go code is only the tests that keep them honest; `make test-ha`
// brings the stack up on loopback (fault/ha_test.go).
package deploy
