package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Files b24sim keeps in --cert-dir. ca.key is kept too, so that a new server certificate
// (new --san values, or expiry) is signed by the same CA that users already trust.
const (
	caCertFile  = "ca.crt"
	caKeyFile   = "ca.key"
	tlsCertFile = "tls.crt"
	tlsKeyFile  = "tls.key"
)

const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
	// renewBefore: a server certificate this close to expiry is replaced at start.
	renewBefore = 24 * time.Hour
)

// certs is the TLS material b24sim serves with.
type certs struct {
	caPEM  []byte
	server tls.Certificate
	// issued lists what was (re)generated at this start, for the log.
	issued []string
}

// ensureCerts loads the CA and the server certificate from dir, or creates them. The CA is
// reused whenever ca.crt and ca.key are present and valid; the server certificate is reused
// only if that CA signed it, it covers every wanted SAN and it is not about to expire.
func ensureCerts(dir string, sans []string, now time.Time) (certs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return certs{}, fmt.Errorf("create cert dir: %w", err)
	}
	var out certs
	ca, caKey, caPEM, err := loadCA(dir, now)
	if err != nil {
		ca, caKey, caPEM, err = newCA(dir, now)
		if err != nil {
			return certs{}, err
		}
		out.issued = append(out.issued, caCertFile)
	}
	out.caPEM = caPEM

	server, err := loadServer(dir, ca, sans, now)
	if err != nil {
		server, err = newServer(dir, ca, caKey, sans, now)
		if err != nil {
			return certs{}, err
		}
		out.issued = append(out.issued, tlsCertFile)
	}
	out.server = server
	return out, nil
}

func loadCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, nil, nil, err
	}
	cert := pair.Leaf
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	switch {
	case !ok:
		return nil, nil, nil, errors.New("CA key is not ECDSA")
	case !cert.IsCA:
		return nil, nil, nil, errors.New("ca.crt is not a CA")
	case now.After(cert.NotAfter.Add(-renewBefore)):
		return nil, nil, nil, errors.New("CA expires soon")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, caPEM, nil
}

func loadServer(dir string, ca *x509.Certificate, sans []string, now time.Time) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, tlsCertFile), filepath.Join(dir, tlsKeyFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := pair.Leaf
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return tls.Certificate{}, fmt.Errorf("tls.crt not signed by ca.crt: %w", err)
	}
	if now.After(leaf.NotAfter.Add(-renewBefore)) {
		return tls.Certificate{}, errors.New("tls.crt expires soon")
	}
	for _, san := range sans {
		if err := leaf.VerifyHostname(san); err != nil {
			return tls.Certificate{}, fmt.Errorf("tls.crt does not cover %s", san)
		}
	}
	return pair, nil
}

func newCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "b24sim CA", Organization: []string{"b24-operator simulator"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKeyPair(dir, caCertFile, caKeyFile, certPEM, key); err != nil {
		return nil, nil, nil, err
	}
	return cert, key, certPEM, nil
}

func newServer(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, sans []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "b24sim"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, san := range sans {
		if ip := net.ParseIP(san); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create server certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKeyPair(dir, tlsCertFile, tlsKeyFile, certPEM, key); err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

func writeKeyPair(dir, certFile, keyFile string, certPEM []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(filepath.Join(dir, keyFile), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, certFile), certPEM, 0o644)
}

// writeFileAtomic writes through a temporary file and a rename, so a reader (make run, a
// test waiting for --ready-file) never sees half a file.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

// certSANs returns the default SANs plus extra ones, deduplicated, in a stable order.
func certSANs(extra ...string) []string {
	out := []string{"localhost", "127.0.0.1", "::1"}
	for _, s := range extra {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
