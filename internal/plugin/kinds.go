package plugin

import (
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// The kinds the plugin knows, by Kind.
const (
	kindPortal       = "Portal"
	kindChatBot      = "ChatBot"
	kindChatApp      = "ChatApp"
	kindChat         = "Chat"
	kindBotCommand   = "BotCommand"
	kindMetabot      = "Metabot"
	kindScheduledJob = "ScheduledJob"
)

// apiResources are the b24ops.io kinds the cluster serves, found through discovery (never
// cached on disk, so a CRD installed a minute ago is seen).
type apiResources struct {
	gv     schema.GroupVersion
	byKind map[string]metav1.APIResource
}

type clients struct {
	dyn       dynamic.Interface
	resources apiResources
	namespace string // the namespace from -n or the kubeconfig context
	explicit  bool   // -n was given (or the context names a namespace)
}

func (o *Options) clients() (*clients, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	ns, explicit, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("read the namespace from the kubeconfig: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	res, err := discover(cfg)
	if err != nil {
		return nil, err
	}
	return &clients{dyn: dyn, resources: res, namespace: ns, explicit: explicit}, nil
}

func (o *Options) restConfig() (*rest.Config, error) {
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load the kubeconfig: %w", err)
	}
	return cfg, nil
}

func discover(cfg *rest.Config) (apiResources, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return apiResources{}, err
	}
	gv := b24v1.GroupVersion
	list, err := dc.ServerResourcesForGroupVersion(gv.String())
	if apierrors.IsNotFound(err) {
		return apiResources{}, fmt.Errorf("the cluster does not serve %s: install b24-operator's CRDs first", gv)
	}
	if err != nil {
		return apiResources{}, fmt.Errorf("discover %s: %w", gv, err)
	}
	res := apiResources{gv: gv, byKind: map[string]metav1.APIResource{}}
	for _, r := range list.APIResources {
		if strings.Contains(r.Name, "/") { // subresources such as chatbots/status
			continue
		}
		res.byKind[r.Kind] = r
	}
	return res, nil
}

// has reports whether the cluster serves kind (BotCommand only once its CRD is installed).
func (r apiResources) has(kind string) bool {
	_, ok := r.byKind[kind]
	return ok
}

func (r apiResources) gvr(kind string) schema.GroupVersionResource {
	return r.gv.WithResource(r.byKind[kind].Name)
}

// resolve finds the kind a user typed: its Kind, plural, singular or short name, in any case,
// optionally qualified with the group (chatbots.b24ops.io).
func (r apiResources) resolve(typed string) (string, error) {
	t := strings.ToLower(typed)
	t = strings.TrimSuffix(t, "."+r.gv.Group+"/"+r.gv.Version)
	t = strings.TrimSuffix(t, "."+r.gv.Version+"."+r.gv.Group)
	t = strings.TrimSuffix(t, "."+r.gv.Group)
	kinds := make([]string, 0, len(r.byKind))
	for k := range r.byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		res := r.byKind[k]
		names := append([]string{strings.ToLower(k), res.Name, res.SingularName}, res.ShortNames...)
		if slices.Contains(names, t) {
			return k, nil
		}
	}
	return "", fmt.Errorf("%q is not a kind of %s (one of: %s)", typed, r.gv.Group, strings.Join(kinds, ", "))
}

// splitKindName reads KIND/NAME, or KIND NAME as two arguments.
func splitKindName(args []string) (kind, name string, err error) {
	switch len(args) {
	case 1:
		kind, name, ok := strings.Cut(args[0], "/")
		if !ok || kind == "" || name == "" {
			return "", "", fmt.Errorf("want KIND/NAME (for example chatbot/support), got %q", args[0])
		}
		return kind, name, nil
	case 2:
		return args[0], args[1], nil
	}
	return "", "", fmt.Errorf("want KIND/NAME (for example chatbot/support)")
}
