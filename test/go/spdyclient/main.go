// spdyclient drives the shim's streaming server with moby/spdystream, the Go SPDY library the
// kubelet, kubectl and crictl use (Debian: golang-github-docker-spdystream-dev), opening its
// streams the way Kubernetes' remotecommand and port-forward clients do. spdystream does no
// flow control, which is exactly what the server must cope with.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o spdyclient .
//	spdyclient exec URL stdin|nostdin tty|notty   (stdin from our stdin; prints STATUS: <error stream>)
//	spdyclient portforward URL PORT REQUEST      (prints the reply, then ERROR: <error stream>)
//
// An https:// URL (the kubelet's own /exec and /portForward on its secure port, whose serving
// certificate is self-signed in a standalone kubelet) is dialled over TLS without verification.
package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"

	"github.com/moby/spdystream"
)

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

func upgrade(raw string, protocol string) *spdystream.Connection {
	u, err := url.Parse(raw)
	if err != nil {
		fail("url: %v", err)
	}
	var conn net.Conn
	if u.Scheme == "https" {
		conn, err = tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	} else {
		conn, err = net.Dial("tcp", u.Host)
	}
	if err != nil {
		fail("dial: %v", err)
	}
	req, _ := http.NewRequest("POST", raw, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	req.Header.Set("X-Stream-Protocol-Version", protocol)
	if err := req.Write(conn); err != nil {
		fail("write request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		fail("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		fail("HTTP %d: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Stream-Protocol-Version"); got != protocol {
		fail("negotiated %q, wanted %q", got, protocol)
	}
	sc, err := spdystream.NewConnection(&bufferedConn{conn, br}, false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go sc.Serve(spdystream.NoOpStreamHandler)
	return sc
}

func open(sc *spdystream.Connection, h http.Header) *spdystream.Stream {
	s, err := sc.CreateStream(h, nil, false)
	if err != nil {
		fail("create stream %v: %v", h, err)
	}
	if err := s.Wait(); err != nil {
		fail("stream %v not replied: %v", h, err)
	}
	return s
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: spdyclient exec URL stdin|nostdin tty|notty | portforward URL PORT REQUEST")
	}
	switch os.Args[1] {
	case "exec":
		withStdin, tty := os.Args[3] == "stdin", os.Args[4] == "tty"
		sc := upgrade(os.Args[2], "v4.channel.k8s.io")
		errStream := open(sc, header("streamType", "error"))
		var wg sync.WaitGroup
		if withStdin {
			stdin := open(sc, header("streamType", "stdin"))
			go func() {
				io.Copy(stdin, os.Stdin)
				stdin.Close()
			}()
		}
		stdout := open(sc, header("streamType", "stdout"))
		wg.Add(1)
		go func() { defer wg.Done(); io.Copy(os.Stdout, stdout) }()
		if tty {
			resize := open(sc, header("streamType", "resize"))
			fmt.Fprintf(resize, "{\"Width\":91,\"Height\":19}\n")
		} else {
			stderr := open(sc, header("streamType", "stderr"))
			wg.Add(1)
			go func() { defer wg.Done(); io.Copy(os.Stderr, stderr) }()
		}
		status, _ := io.ReadAll(errStream)
		wg.Wait()
		fmt.Fprintf(os.Stderr, "STATUS: %s\n", status)
		sc.Close()
	case "portforward":
		sc := upgrade(os.Args[2], "portforward.k8s.io")
		port := os.Args[3]
		errStream := open(sc, header("streamType", "error", "port", port, "requestID", "0"))
		// kubectl closes its side of the error stream at once: it only reads it.
		errStream.Close()
		data := open(sc, header("streamType", "data", "port", port, "requestID", "0"))
		io.WriteString(data, os.Args[4])
		reply, _ := io.ReadAll(data)
		msg, _ := io.ReadAll(errStream)
		fmt.Printf("%s", reply)
		fmt.Printf("\nERROR: %s\n", msg)
		sc.Close()
	default:
		fail("unknown mode %q", os.Args[1])
	}
}
