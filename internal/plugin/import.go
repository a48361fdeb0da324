package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
	"github.com/b24ops/b24-operator/internal/bitrix"
	"github.com/b24ops/b24-operator/internal/refs"
)

type importOptions struct {
	*Options
	portal     string
	webhookURL string
	clientID   string
	caFile     string
	portalRef  string
	output     string
}

func newImportCommand(o *Options) *cobra.Command {
	im := &importOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "import (--portal NAMESPACE/NAME | --webhook-url URL --client-id ID)",
		Short: "Print ObserveOnly manifests for the bots (and their commands) that exist on a portal",
		Long: `Read the bots of a Bitrix24 application and print ChatBot and BotCommand manifests that
bring them under GitOps without changing them: managementPolicy ObserveOnly (the operator
finds the bot by its code and never writes to Bitrix24) and deletionPolicy Orphan.
Review the output, apply it, read the Synced conditions, then switch to Full.

The portal is read with imbot.v2 Bot.list and Command.list where imbot.v2.Revision.get says
the portal has them, else with v1 imbot.bot.list (v1 has no way to list commands). Only read
methods are called.

--portal reads the Portal object and its credentials Secret with your own access to the
cluster (webhook Portals; an OAuth Portal's tokens are the operator's and are not used
here). --webhook-url and --client-id call the portal directly.`,
		Example: `  kubectl b24 import --portal team-a/acme > acme-bots.yaml
  kubectl b24 import --webhook-url "$WEBHOOK" --client-id acme-bots --portal-ref acme -n team-a -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return im.run(cmd.Context()) },
	}
	f := cmd.Flags()
	f.StringVar(&im.portal, "portal", "", "The Portal to read, as NAMESPACE/NAME (or NAME in the current namespace)")
	f.StringVar(&im.webhookURL, "webhook-url", "", "An inbound webhook URL of the portal (https://portal/rest/1/xxxx/); a credential, prefer --portal")
	f.StringVar(&im.clientID, "client-id", "", "The application's client id (CLIENT_ID, the v2 botToken) that owns the bots")
	f.StringVar(&im.caFile, "ca-file", "", "A PEM file of CA certificates to trust for the portal (on-premise portals)")
	f.StringVar(&im.portalRef, "portal-ref", "", "With --webhook-url: the Portal name the manifests refer to; defaults to the first label of the portal's host")
	f.StringVarP(&im.output, "output", "o", "yaml", "Output format: yaml (a multi-document stream with review notes as comments) or json (a v1 List; the notes go to stderr)")
	return cmd
}

// source is where the import reads from and what the manifests refer to.
type source struct {
	webhookURL, clientID string
	ca                   []byte
	namespace, portal    string
}

func (im *importOptions) run(ctx context.Context) error {
	if im.output != "yaml" && im.output != "json" {
		return fmt.Errorf("--output must be yaml or json, got %q", im.output)
	}
	var src source
	var err error
	switch {
	case im.portal != "" && (im.webhookURL != "" || im.clientID != ""):
		return fmt.Errorf("use either --portal or --webhook-url with --client-id, not both")
	case im.portal != "":
		src, err = im.fromCluster(ctx)
	case im.webhookURL != "" && im.clientID != "":
		src, err = im.direct()
	default:
		return fmt.Errorf("need --portal NAMESPACE/NAME, or --webhook-url and --client-id")
	}
	if err != nil {
		return err
	}
	opts := []bitrix.Option{bitrix.WithWebhook(src.webhookURL, src.clientID)}
	if len(src.ca) > 0 {
		opts = append(opts, bitrix.WithCABundle(src.ca))
	}
	bc, err := bitrix.New(opts...)
	if err != nil {
		return err
	}
	defer bc.CloseIdleConnections()
	res, err := Import(ctx, bc, src.namespace, src.portal)
	if err != nil {
		return err
	}
	if im.output == "json" {
		for _, n := range res.Notes {
			fmt.Fprintln(im.Streams.ErrOut, "note:", n)
		}
		return res.WriteJSON(im.Streams.Out)
	}
	return res.WriteYAML(im.Streams.Out)
}

func (im *importOptions) direct() (source, error) {
	src := source{webhookURL: im.webhookURL, clientID: im.clientID, portal: im.portalRef}
	u, err := url.Parse(im.webhookURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return source{}, fmt.Errorf("--webhook-url must be an https URL such as https://portal/rest/1/xxxx/")
	}
	if src.portal == "" {
		host, _, _ := strings.Cut(u.Hostname(), ".")
		src.portal = sanitizeName(host)
	}
	if ns := im.ConfigFlags.Namespace; ns != nil && *ns != "" {
		src.namespace = *ns
	}
	if im.caFile != "" {
		if src.ca, err = os.ReadFile(im.caFile); err != nil {
			return source{}, fmt.Errorf("read --ca-file: %w", err)
		}
	}
	return src, nil
}

// fromCluster reads the Portal and its Secret (and CA ConfigMap) as the user.
func (im *importOptions) fromCluster(ctx context.Context) (source, error) {
	c, err := im.clients()
	if err != nil {
		return source{}, err
	}
	ns, name, ok := strings.Cut(im.portal, "/")
	if !ok {
		ns, name = c.namespace, im.portal
	}
	obj, err := c.dyn.Resource(c.resources.gvr(kindPortal)).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return source{}, fmt.Errorf("read Portal %s/%s: %w", ns, name, err)
	}
	var portal b24v1.Portal
	if err := runtimeFromUnstructured(obj, &portal); err != nil {
		return source{}, fmt.Errorf("read Portal %s/%s: %w", ns, name, err)
	}
	wh := portal.Spec.Auth.Webhook
	if wh == nil {
		return source{}, fmt.Errorf("Portal %s/%s uses OAuth: import reads webhook Portals only (refreshing the operator's tokens from here would invalidate them); use --webhook-url and --client-id with an inbound webhook of the portal", ns, name)
	}
	cfg, err := im.restConfig()
	if err != nil {
		return source{}, err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return source{}, err
	}
	sec, err := kc.CoreV1().Secrets(ns).Get(ctx, wh.SecretRef.Name, metav1.GetOptions{})
	if err != nil {
		return source{}, fmt.Errorf("read the Portal's Secret %s/%s: %w", ns, wh.SecretRef.Name, err)
	}
	src := source{namespace: ns, portal: name, clientID: wh.ClientID}
	src.webhookURL = strings.TrimSpace(string(sec.Data[refs.WebhookURLSecretKey]))
	if src.webhookURL == "" {
		return source{}, fmt.Errorf("Secret %s/%s has no key %s", ns, sec.Name, refs.WebhookURLSecretKey)
	}
	if src.clientID == "" { // the client id may live in the Secret instead (API.md, Chatbots 2.0)
		src.clientID = strings.TrimSpace(string(sec.Data["clientId"]))
	}
	if src.clientID == "" {
		return source{}, fmt.Errorf("Portal %s/%s has no client id (spec.auth.webhook.clientId or Secret key clientId)", ns, name)
	}
	if cab := portal.Spec.CABundle; cab != nil {
		cm, err := kc.CoreV1().ConfigMaps(ns).Get(ctx, cab.ConfigMapKeyRef.Name, metav1.GetOptions{})
		if err != nil {
			return source{}, fmt.Errorf("read the Portal's CA ConfigMap %s/%s: %w", ns, cab.ConfigMapKeyRef.Name, err)
		}
		src.ca = configMapBytes(cm, cab.ConfigMapKeyRef.Key)
	}
	return src, nil
}

func configMapBytes(cm *corev1.ConfigMap, key string) []byte {
	if s, ok := cm.Data[key]; ok {
		return []byte(s)
	}
	return cm.BinaryData[key]
}

// ImportResult is what an import found: the manifests in output order and the notes a
// reviewer must read.
type ImportResult struct {
	Notes []string
	Items []ImportedObject
}

// ImportedObject is one manifest and what to review in it.
type ImportedObject struct {
	Object map[string]any
	Notes  []string
}

// Import reads the application's bots and commands through c (read calls only) and builds
// ObserveOnly manifests in namespace (may be empty) that refer to the Portal named portal.
func Import(ctx context.Context, c *bitrix.Client, namespace, portal string) (*ImportResult, error) {
	rev, err := c.Revision(ctx)
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Notes: []string{
		"ObserveOnly: the operator finds each bot by its code and never writes to Bitrix24; deletionPolicy Orphan keeps the bots if the objects are deleted",
	}}
	if rev.HasV2() {
		return res, importV2(ctx, c, res, namespace, portal)
	}
	return res, importV1(ctx, c, res, namespace, portal)
}

type remoteBot struct {
	id   int
	code string
	lang string // the language Command.list answers in (the bot's), for the translations
	obj  map[string]any
	cmds []bitrix.CommandV2
	note []string
}

func importV2(ctx context.Context, c *bitrix.Client, res *ImportResult, namespace, portal string) error {
	bots, err := c.ListBotsV2(ctx, "")
	if err != nil {
		return err
	}
	ids := make([]int, 0, len(bots))
	for _, b := range bots {
		ids = append(ids, b.ID)
	}
	cmds, err := c.ListCommandsV2(ctx, ids)
	if err != nil {
		return fmt.Errorf("list commands: %w", err)
	}
	res.Notes = append(res.Notes, "read with imbot.v2 (Bot.list, Command.list): only this application's bots")
	var rbs []*remoteBot
	for _, b := range bots {
		rb := &remoteBot{id: b.ID, code: b.Code}
		spec := map[string]any{
			"portalRef":        map[string]any{"name": portal},
			"code":             b.Code,
			"api":              "V2",
			"managementPolicy": "ObserveOnly",
			"deletionPolicy":   string(b24v1.DeletionPolicyOrphan),
		}
		if t := v2Type(b.Type); t != "" {
			spec["type"] = t
		}
		switch b.EventMode {
		case bitrix.EventModeFetch:
			spec["eventMode"] = "Fetch"
		case bitrix.EventModeWebhook:
			spec["eventMode"] = "Webhook"
			rb.note = append(rb.note, "Bot.list does not report the webhook URL: set spec.eventHandler before switching to Full")
		}
		props := map[string]any{}
		setNonEmpty(props, "name", b.User.FirstName)
		setNonEmpty(props, "lastName", b.User.LastName)
		setNonEmpty(props, "workPosition", b.User.WorkPosition)
		setNonEmpty(props, "gender", b.User.Gender)
		if name, ok := bitrix.ColorName(b.User.Color); ok {
			props["color"] = name
		}
		if len(props) == 0 {
			props["name"] = b.Code
		}
		spec["properties"] = props
		if b.Hidden {
			props["hidden"] = true
		}
		rb.obj = spec
		bc := cmds[b.ID]
		if bc.Err != nil {
			rb.note = append(rb.note, fmt.Sprintf("its commands could not be read: %v", bc.Err))
		}
		rb.cmds = bc.Commands
		rb.lang = b.Language
		rbs = append(rbs, rb)
	}
	emit(res, rbs, namespace)
	return nil
}

func importV1(ctx context.Context, c *bitrix.Client, res *ImportResult, namespace, portal string) error {
	list, err := c.BotList(ctx)
	if err != nil {
		return err
	}
	res.Notes = append(res.Notes,
		"this portal has no imbot.v2: read with v1 imbot.bot.list, which lists every bot of the portal, of every application: keep only your application's bots",
		"imbot v1 has no method that lists a bot's commands: no BotCommand manifests are printed; write them by hand",
		"imbot.bot.list does not report event handlers or types: set spec.eventHandler (or eventHandlers) and spec.type before switching to Full")
	var rbs []*remoteBot
	for _, b := range list {
		spec := map[string]any{
			"portalRef":        map[string]any{"name": portal},
			"code":             b.Code,
			"api":              "V1",
			"managementPolicy": "ObserveOnly",
			"deletionPolicy":   string(b24v1.DeletionPolicyOrphan),
			"properties":       map[string]any{"name": b.Name},
		}
		if b.Name == "" {
			spec["properties"] = map[string]any{"name": b.Code}
		}
		if b.Openline {
			spec["openline"] = true
		}
		rbs = append(rbs, &remoteBot{id: b.ID, code: b.Code, obj: spec})
	}
	emit(res, rbs, namespace)
	return nil
}

// emit names the bots after their codes and adds each bot, then its commands, to res.
func emit(res *ImportResult, rbs []*remoteBot, namespace string) {
	slices.SortFunc(rbs, func(a, b *remoteBot) int {
		if c := strings.Compare(a.code, b.code); c != 0 {
			return c
		}
		return a.id - b.id
	})
	used := map[string]bool{}
	for _, rb := range rbs {
		botName := uniqueName(used, sanitizeName(rb.code), rb.id)
		lang := rb.lang
		if lang == "" {
			lang = "en"
		}
		notes := append([]string{fmt.Sprintf("bot %d, code %q", rb.id, rb.code)}, rb.note...)
		res.Items = append(res.Items, ImportedObject{Object: manifest("ChatBot", namespace, botName, rb.obj), Notes: notes})
		cmds := slices.Clone(rb.cmds)
		slices.SortFunc(cmds, func(a, b bitrix.CommandV2) int { return strings.Compare(a.Command, b.Command) })
		for _, cmd := range cmds {
			name := uniqueName(used, sanitizeName(botName+"-"+cmd.Command), cmd.ID)
			tr := map[string]any{"language": lang}
			setNonEmpty(tr, "title", cmd.Title)
			setNonEmpty(tr, "params", cmd.Params)
			spec := map[string]any{
				"botRef":           map[string]any{"name": botName},
				"command":          cmd.Command,
				"common":           cmd.Common,
				"hidden":           cmd.Hidden,
				"extranetSupport":  cmd.ExtranetSupport,
				"translations":     []any{tr},
				"managementPolicy": "ObserveOnly",
				"deletionPolicy":   string(b24v1.DeletionPolicyOrphan),
			}
			res.Items = append(res.Items, ImportedObject{
				Object: manifest("BotCommand", namespace, name, spec),
				Notes:  []string{fmt.Sprintf("command %d /%s of bot %q; Command.list reads the title in the portal's language (%s) only: add the other languages", cmd.ID, cmd.Command, rb.code, lang)},
			})
		}
	}
}

func manifest(kind, namespace, name string, spec map[string]any) map[string]any {
	meta := map[string]any{"name": name}
	if namespace != "" {
		meta["namespace"] = namespace
	}
	return map[string]any{"apiVersion": b24v1.GroupVersion.String(), "kind": kind, "metadata": meta, "spec": spec}
}

// WriteYAML prints the notes as comments and the manifests as a multi-document stream.
func (r *ImportResult) WriteYAML(w io.Writer) error {
	for _, n := range r.Notes {
		fmt.Fprintf(w, "# %s\n", n)
	}
	if len(r.Items) == 0 {
		fmt.Fprintln(w, "# no bots found")
	}
	for _, it := range r.Items {
		b, err := yaml.Marshal(it.Object)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "---")
		for _, n := range it.Notes {
			fmt.Fprintf(w, "# %s\n", n)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON prints the manifests as a v1 List.
func (r *ImportResult) WriteJSON(w io.Writer) error {
	items := make([]any, 0, len(r.Items))
	for _, it := range r.Items {
		items = append(items, it.Object)
	}
	b, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// sanitizeName turns a bot code (^[a-z0-9_-]{1,64}$ in this API, anything on a portal) into a
// DNS-1123 label: lower case, runs of other characters become "-", no "-" at either end, at
// most 63 characters.
func sanitizeName(s string) string {
	s = notDNS.ReplaceAllString(strings.ToLower(s), "-")
	s = strings.Trim(s, "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}

// uniqueName returns base, or base-<id> when base is empty or already taken (the bots are
// visited in a stable order, so the same portal always gives the same names).
func uniqueName(used map[string]bool, base string, id int) string {
	name := base
	for n := 0; name == "" || used[name]; n++ {
		suffix := "-" + strconv.Itoa(id)
		if n > 0 {
			suffix += "-" + strconv.Itoa(n)
		}
		b := base
		if b == "" {
			b = "bot"
		}
		if len(b)+len(suffix) > 63 {
			b = strings.TrimRight(b[:63-len(suffix)], "-")
		}
		name = b + suffix
	}
	used[name] = true
	return name
}

func setNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// v2Type maps imbot.v2's bot types to spec.type.
func v2Type(t string) string {
	switch t {
	case bitrix.BotV2TypeBot, "":
		return ""
	case bitrix.BotV2TypeSupervisor:
		return "Supervisor"
	case bitrix.BotV2TypeOpenline:
		return "OpenLine"
	case bitrix.BotV2TypeNetwork:
		return "Network"
	case bitrix.BotV2TypePersonal:
		return "Personal"
	}
	return t
}

func runtimeFromUnstructured(u *unstructured.Unstructured, into any) error {
	b, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}
