package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// The certificate rotation reads and rewrites its Secret and injects the CA into the webhook
// configuration. The Secret itself is created by the chart (the operator creates it only when
// it may, e.g. in local runs), so no create verb is granted here.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;update;patch

// Certificate modes.
const (
	// CertModeSelf: the operator provisions its own CA and serving certificate into a Secret,
	// rotates them, and injects the CA into the ValidatingWebhookConfiguration.
	CertModeSelf = "self"
	// CertModeExternal: something else (cert-manager) fills the Secret mounted at the
	// certificate directory and injects the CA; the operator only serves what it finds there
	// and reloads it when it changes.
	CertModeExternal = "external"
)

// DefaultCertSecretName is the Secret holding the self-managed certificate (keys tls.crt,
// tls.key, ca.crt, ca.key), mounted at the webhook's certificate directory.
const DefaultCertSecretName = "b24-operator-webhook-cert"

// CertOptions configure the webhook's serving certificate.
type CertOptions struct {
	// Mode is CertModeSelf or CertModeExternal.
	Mode string
	// CertDir is where the serving certificate is read from (tls.crt, tls.key). Defaults to the
	// webhook server's.
	CertDir string
	// Namespace the operator runs in: where the certificate Secret and the Service live.
	Namespace string
	// ServiceName is the webhook's Service; the certificate is issued for
	// <service>.<namespace>.svc, the name the API server calls.
	ServiceName string
	// ConfigName is the ValidatingWebhookConfiguration the CA is injected into.
	ConfigName string
	// SecretName defaults to DefaultCertSecretName.
	SecretName string
	// DNSName overrides the certificate's name (tests serving on localhost).
	DNSName string
	// ControllerName names the rotation controller, which must be unique in the process.
	// Defaults to "webhook-cert-rotator".
	ControllerName string
}

// SetupCertificates prepares the webhook server's certificate. In self mode it follows
// cert-controller's pattern: the rotator writes the Secret, the kubelet mounts it at CertDir,
// the rotator injects the CA and closes IsReady. The webhook server starts with the manager and
// must not fail for lack of a certificate, so it gets its certificate from a loader that
// starts watching CertDir only once IsReady is closed; until then TLS handshakes fail and the
// readiness check says why, so no Service endpoint points at a replica that cannot serve.
func SetupCertificates(mgr ctrl.Manager, o CertOptions) error {
	switch o.Mode {
	case CertModeExternal:
		// controller-runtime's server watches CertDir and reloads cert-manager's renewals.
		return nil
	case CertModeSelf:
	default:
		return fmt.Errorf("unknown webhook certificate mode %q: use %q or %q", o.Mode, CertModeSelf, CertModeExternal)
	}
	srv, ok := mgr.GetWebhookServer().(*crwebhook.DefaultServer)
	if !ok {
		return fmt.Errorf("self-managed webhook certificates need controller-runtime's default webhook server, not %T", mgr.GetWebhookServer())
	}
	if o.CertDir == "" {
		o.CertDir = srv.Options.CertDir
	}
	if o.SecretName == "" {
		o.SecretName = DefaultCertSecretName
	}
	if o.ControllerName == "" {
		o.ControllerName = "webhook-cert-rotator"
	}
	// Every name the Service answers to; the API server calls <service>.<namespace>.svc.
	var names []string
	if o.ServiceName != "" && o.Namespace != "" {
		svc := o.ServiceName + "." + o.Namespace
		names = []string{svc + ".svc", svc + ".svc.cluster.local", svc, o.ServiceName}
	}
	if o.DNSName == "" && len(names) > 0 {
		o.DNSName = names[0]
	}
	var extra []string
	for _, n := range names {
		if n != o.DNSName {
			extra = append(extra, n)
		}
	}
	switch {
	case o.Namespace == "":
		return errors.New("self-managed webhook certificates need the operator's namespace (POD_NAMESPACE)")
	case o.DNSName == "":
		return errors.New("self-managed webhook certificates need the webhook's Service name")
	case o.ConfigName == "":
		return errors.New("self-managed webhook certificates need the ValidatingWebhookConfiguration's name")
	case o.CertDir == "":
		return errors.New("self-managed webhook certificates need a certificate directory")
	}
	secret := types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}
	if err := ensureSecret(mgr, secret); err != nil {
		return err
	}

	ready := make(chan struct{})
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      secret,
		CertDir:        o.CertDir,
		CAName:         "b24-operator-webhook-ca",
		CAOrganization: "b24ops.io",
		DNSName:        o.DNSName,
		ExtraDNSNames:  extra,
		IsReady:        ready,
		Webhooks:       []rotator.WebhookInfo{{Name: o.ConfigName, Type: rotator.Validating}},
		FieldOwner:     "b24-operator",
		// Every replica serves the webhook, so every replica needs the certificate: the
		// rotation runs without leader election (they converge on the same Secret).
		RequireLeaderElection: false,
		// Inject the CA only once this replica's certificate is mounted.
		EnableReadinessCheck: true,
		ControllerName:       o.ControllerName,
	}); err != nil {
		return fmt.Errorf("set up webhook certificate rotation: %w", err)
	}

	certName, keyName := srv.Options.CertName, srv.Options.KeyName
	if certName == "" {
		certName = "tls.crt"
	}
	if keyName == "" {
		keyName = "tls.key"
	}
	cert := &servingCert{
		certFile: filepath.Join(o.CertDir, certName),
		keyFile:  filepath.Join(o.CertDir, keyName),
		ready:    ready,
		waiting:  fmt.Sprintf("webhook certificate not ready: waiting for Secret %s to be mounted at %s and its CA injected into ValidatingWebhookConfiguration %s", secret, o.CertDir, o.ConfigName),
	}
	srv.Options.TLSOpts = append(srv.Options.TLSOpts, func(c *tls.Config) { c.GetCertificate = cert.GetCertificate })
	if err := mgr.Add(cert); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("webhook-certificate", cert.Check)
}

// ensureSecret creates the empty certificate Secret when it is missing: the rotator fails
// without it. The chart normally creates it (a Secret volume must exist for the pod to start).
func ensureSecret(mgr ctrl.Manager, key types.NamespacedName) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch err := mgr.GetAPIReader().Get(ctx, key, &corev1.Secret{}); {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read webhook certificate Secret %s: %w", key, err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: key.Namespace, Name: key.Name,
		Labels: map[string]string{"app.kubernetes.io/name": "b24-operator", "app.kubernetes.io/component": "webhook"},
	}}
	if err := mgr.GetClient().Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("webhook certificate Secret %s is missing and could not be created (the chart creates it): %w", key, err)
	}
	return nil
}

// servingCert hands the webhook server its certificate once the rotator reports it ready, and
// from then on follows the files as the kubelet updates them.
type servingCert struct {
	certFile, keyFile string
	ready             <-chan struct{}
	waiting           string
	watcher           atomic.Pointer[certwatcher.CertWatcher]
}

// Start waits for the rotator, then watches the certificate files until ctx ends.
func (s *servingCert) Start(ctx context.Context) error {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	var w *certwatcher.CertWatcher
	// The kubelet swaps the mounted files atomically, but a half-written update is retried
	// rather than taken down with the manager.
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(context.Context) (bool, error) {
		var err error
		w, err = certwatcher.New(s.certFile, s.keyFile)
		return err == nil, nil
	})
	if err != nil {
		return nil // ctx ended
	}
	s.watcher.Store(w)
	return w.Start(ctx)
}

// NeedLeaderElection: every replica serves the webhook.
func (s *servingCert) NeedLeaderElection() bool { return false }

// GetCertificate is the webhook server's tls.Config.GetCertificate.
func (s *servingCert) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if w := s.watcher.Load(); w != nil {
		return w.GetCertificate(hello)
	}
	return nil, errors.New(s.waiting)
}

// Check is a readiness check: ready once the certificate is served.
func (s *servingCert) Check(*http.Request) error {
	if s.watcher.Load() == nil {
		return errors.New(s.waiting)
	}
	return nil
}
