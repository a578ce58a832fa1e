// Package loopback picks loopback ports for processes that must be told
// their address before they start: the brokers that tests and the
// benchmark run, and the databases they use.
package loopback

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreeAddr returns a loopback address, host:port, that was free a moment ago.
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}

// FreePort returns a loopback port that was free a moment ago, for a process
// that will listen on it. It is drawn at random from below the kernel's
// ephemeral range, never from it: a port the kernel handed out for
// "127.0.0.1:0" and that was then closed is the next one it may hand to any
// other test's listener or outgoing connection, and CI once saw a broker's
// /readyz answered by another test's broker on the port it had been given.
// Below the range only other FreePort callers pick ports, at random.
func FreePort() (int, error) {
	low := ephemeralLow()
	for range 100 {
		port := minPort + mrand.IntN(low-minPort)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("loopback: no free port in [%d, %d) after 100 tries", minPort, low)
}

// minPort keeps clear of the well-known and commonly configured ports.
const minPort = 20000

// ephemeralLow is the bottom of the kernel's ephemeral port range (Linux's
// default is 32768).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > minPort+1000 {
				low = n
			}
		}
	}
	return low
}
