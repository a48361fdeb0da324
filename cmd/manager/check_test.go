package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestCheckWebhook(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	t.Setenv("TEST_WEBHOOK_SERVICE_HOST", host)

	dir := t.TempDir()
	goodCA := filepath.Join(dir, "ca.crt")
	writePEM(t, goodCA, srv.Certificate().Raw)
	otherCA := filepath.Join(dir, "other.crt")
	writePEM(t, otherCA, selfSignedCA(t))

	cases := []struct {
		name       string
		serverName string
		ca         string
		wantErr    bool
	}{
		{"the certificate covers the name and the CA signs it", "example.com", goodCA, false},
		{"a name the certificate does not cover is refused", "b24-operator-webhook.b24-operator-system.svc", goodCA, true},
		{"a certificate another CA signed is refused", "example.com", otherCA, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := strconv.Atoi(port)
			err := checkWebhook([]string{"--server-name=" + tc.serverName, "--host-env=TEST_WEBHOOK_SERVICE_HOST",
				"--port=" + strconv.Itoa(p), "--ca-file=" + tc.ca, "--timeout=" + time.Duration(0).String()}, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}

// selfSignedCA is a CA certificate for example.com that did not sign the test server's.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"}, DNSNames: []string{"example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
