package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// checkWebhookCommand is the subcommand the chart's `helm test` hook runs in the manager image:
// it connects to the webhook through its Service and verifies the serving certificate against
// the CA the manager (or cert-manager) stored in the certificate Secret, for the Service's DNS
// name, so a pass means the API server can call the webhook the same way.
const checkWebhookCommand = "check-webhook"

func checkWebhook(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet(checkWebhookCommand, flag.ContinueOnError)
	fl.SetOutput(stderr)
	serverName := fl.String("server-name", "", "DNS name the certificate must cover: <service>.<namespace>.svc.")
	hostEnv := fl.String("host-env", "", "Environment variable holding the Service's address (<SERVICE>_SERVICE_HOST); unset: resolve --server-name.")
	port := fl.Int("port", 443, "Port of the webhook Service.")
	caFile := fl.String("ca-file", "", "PEM file of the CA that signs the serving certificate.")
	timeout := fl.Duration("timeout", 60*time.Second, "How long to keep trying.")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *serverName == "" || *caFile == "" {
		return errors.New("--server-name and --ca-file are required")
	}
	host := *serverName
	if v := os.Getenv(*hostEnv); *hostEnv != "" && v != "" {
		host = v
	}
	addr := net.JoinHostPort(host, strconv.Itoa(*port))
	deadline := time.Now().Add(*timeout)
	for {
		err := dialWebhook(addr, *serverName, *caFile)
		if err == nil {
			fmt.Fprintf(stderr, "webhook %s at %s: certificate verified\n", *serverName, addr)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook %s at %s: %w", *serverName, addr, err)
		}
		time.Sleep(2 * time.Second)
	}
}

func dialWebhook(addr, serverName, caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		return err
	}
	return conn.Close()
}
