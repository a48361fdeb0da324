package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	b24v1 "github.com/b24ops/b24-operator/api/v1alpha1"
)

// Node is one object of the tree (the -o json|yaml form).
type Node struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Missing: referenced by its children but not found.
	Missing bool   `json:"missing,omitempty"`
	Ready   string `json:"ready,omitempty"` // True, False, Unknown; empty before the first reconcile
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Details are the remote ids and the kind's state, "key=value", in a fixed order.
	Details  []string `json:"details,omitempty"`
	Children []*Node  `json:"children,omitempty"`
}

type treeOptions struct {
	*Options
	allNamespaces bool
	output        string
}

func newTreeCommand(o *Options) *cobra.Command {
	t := &treeOptions{Options: o}
	cmd := &cobra.Command{
		Use:   "tree [PORTAL]",
		Short: "Show Portals with their ChatBots, ChatApps, Chats and BotCommands, and Metabots with their ScheduledJobs",
		Long: `Show the b24ops.io objects of a namespace as a tree: each Portal with its ChatBots, each
ChatBot with its ChatApps, Chats and BotCommands (when that kind is installed), and each
Metabot with its ScheduledJobs, with Ready, its reason and the remote ids. An object whose
parent does not exist is shown under a placeholder marked "(not found)".

With PORTAL only that Portal's tree is shown.`,
		Example: `  kubectl b24 tree -n team-a
  kubectl b24 tree -n team-a acme
  kubectl b24 tree -A -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			portal := ""
			if len(args) == 1 {
				portal = args[0]
			}
			return t.run(cmd.Context(), portal)
		},
	}
	cmd.Flags().BoolVarP(&t.allNamespaces, "all-namespaces", "A", false, "List the objects of every namespace")
	cmd.Flags().StringVarP(&t.output, "output", "o", "", "Output format: empty for the tree, yaml or json for the nodes as data")
	return cmd
}

func (t *treeOptions) run(ctx context.Context, portal string) error {
	if t.output != "" && t.output != "yaml" && t.output != "json" {
		return fmt.Errorf("--output must be yaml or json, got %q", t.output)
	}
	if t.allNamespaces && portal != "" {
		return fmt.Errorf("a PORTAL name needs one namespace: drop -A or the name")
	}
	c, err := t.clients()
	if err != nil {
		return err
	}
	ns := c.namespace
	if t.allNamespaces {
		ns = metav1.NamespaceAll
	}
	objs := map[string][]unstructured.Unstructured{}
	for _, kind := range []string{kindPortal, kindChatBot, kindChatApp, kindChat, kindBotCommand, kindMetabot, kindScheduledJob} {
		if !c.resources.has(kind) {
			continue // BotCommand before its CRD is installed
		}
		list, err := c.dyn.Resource(c.resources.gvr(kind)).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list %s: %w", c.resources.byKind[kind].Name, err)
		}
		objs[kind] = list.Items
	}
	roots := buildTree(objs)
	if portal != "" {
		roots = slices.DeleteFunc(roots, func(n *Node) bool { return n.Kind != kindPortal || n.Name != portal })
		if len(roots) == 0 {
			return apierrors.NewNotFound(c.resources.gvr(kindPortal).GroupResource(), portal)
		}
	}
	switch t.output {
	case "json":
		b, err := json.MarshalIndent(roots, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(t.Streams.Out, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(roots)
		if err != nil {
			return err
		}
		_, err = t.Streams.Out.Write(b)
		return err
	}
	if len(roots) == 0 {
		where := "namespace " + ns
		if t.allNamespaces {
			where = "any namespace"
		}
		_, err := fmt.Fprintf(t.Streams.ErrOut, "No b24ops.io objects found in %s.\n", where)
		return err
	}
	return renderTree(t.Streams.Out, roots)
}

// buildTree links the objects to their parents by the references in their spec. The order is
// stable: namespaces, then Portals before Metabots, then names; children by kind, then name.
func buildTree(objs map[string][]unstructured.Unstructured) []*Node {
	type key struct{ kind, ns, name string }
	nodes := map[key]*Node{}
	var roots []*Node
	get := func(kind, ns, name string) *Node { return nodes[key{kind, ns, name}] }
	add := func(kind string, o *unstructured.Unstructured) *Node {
		n := nodeFor(kind, o)
		nodes[key{kind, n.Namespace, n.Name}] = n
		return n
	}
	// parent returns the parent node, making a "not found" placeholder (a root, or under its
	// own placeholder parent) when it does not exist.
	var parent func(kind, ns, name string) *Node
	parent = func(kind, ns, name string) *Node {
		if n := get(kind, ns, name); n != nil {
			return n
		}
		n := &Node{Kind: kind, Namespace: ns, Name: name, Missing: true}
		nodes[key{kind, ns, name}] = n
		roots = append(roots, n)
		return n
	}
	for _, kind := range []string{kindPortal, kindMetabot} {
		for i := range objs[kind] {
			roots = append(roots, add(kind, &objs[kind][i]))
		}
	}
	for i := range objs[kindChatBot] {
		o := &objs[kindChatBot][i]
		n := add(kindChatBot, o)
		p := parent(kindPortal, n.Namespace, refName(o, "portalRef"))
		p.Children = append(p.Children, n)
	}
	for _, kind := range []string{kindChatApp, kindChat, kindBotCommand} {
		for i := range objs[kind] {
			o := &objs[kind][i]
			n := add(kind, o)
			botName := refName(o, "botRef")
			b := get(kindChatBot, n.Namespace, botName)
			if b == nil {
				b = &Node{Kind: kindChatBot, Namespace: n.Namespace, Name: botName, Missing: true}
				nodes[key{kindChatBot, n.Namespace, botName}] = b
				roots = append(roots, b)
			}
			b.Children = append(b.Children, n)
		}
	}
	for i := range objs[kindScheduledJob] {
		o := &objs[kindScheduledJob][i]
		n := add(kindScheduledJob, o)
		m := parent(kindMetabot, n.Namespace, refName(o, "metabotRef"))
		m.Children = append(m.Children, n)
	}
	order := map[string]int{kindPortal: 0, kindChatBot: 1, kindChatApp: 2, kindChat: 3, kindBotCommand: 4, kindMetabot: 5, kindScheduledJob: 6}
	var sortNodes func([]*Node)
	sortNodes = func(ns []*Node) {
		slices.SortFunc(ns, func(a, b *Node) int {
			if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
				return c
			}
			if c := order[a.Kind] - order[b.Kind]; c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		for _, n := range ns {
			sortNodes(n.Children)
		}
	}
	sortNodes(roots)
	return roots
}

func refName(o *unstructured.Unstructured, field string) string {
	s, _, _ := unstructured.NestedString(o.Object, "spec", field, "name")
	return s
}

func nodeFor(kind string, o *unstructured.Unstructured) *Node {
	n := &Node{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName()}
	if c := condition(o, b24v1.ConditionReady); c != nil {
		n.Ready, n.Reason, n.Message = c.Status, c.Reason, c.Message
	}
	detail := func(k string, path ...string) {
		if v, ok := scalar(o, path...); ok {
			n.Details = append(n.Details, k+"="+v)
		}
	}
	switch kind {
	case kindPortal:
		detail("application", "status", "applicationKey")
		detail("boundBots", "status", "boundBots")
	case kindChatBot:
		detail("botId", "status", "botId")
		detail("api", "status", "api")
	case kindChatApp:
		detail("appId", "status", "appId")
	case kindChat:
		detail("chatId", "status", "chatId")
	case kindBotCommand:
		detail("commandId", "status", "commandId")
	case kindMetabot:
		detail("botId", "spec", "botId")
	case kindScheduledJob:
		detail("phase", "status", "phase")
		if _, cron := scalar(o, "spec", "schedule"); cron {
			detail("next", "status", "nextScheduleTime")
		} else {
			detail("runAt", "status", "runAt")
		}
	}
	// The second-wave fields, shown when the operator in the cluster has them.
	if p, ok := scalar(o, "spec", "managementPolicy"); ok && p != "Full" {
		n.Details = append(n.Details, "policy="+p)
	}
	if c := condition(o, "Synced"); c != nil && c.Status != string(metav1.ConditionTrue) {
		n.Details = append(n.Details, "synced="+c.Status)
	}
	if o.GetAnnotations()["b24ops.io/paused"] == "true" {
		n.Details = append(n.Details, "paused")
	}
	if o.GetDeletionTimestamp() != nil {
		n.Details = append(n.Details, "deleting")
	}
	return n
}

// scalar reads a string, integer or boolean field as text.
func scalar(o *unstructured.Unstructured, path ...string) (string, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	if !ok || v == nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, v != ""
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return fmt.Sprint(v), true
}

type cond struct{ Status, Reason, Message string }

func condition(o *unstructured.Unstructured, typ string) *cond {
	list, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, item := range list {
		m, _ := item.(map[string]any)
		if m["type"] != typ {
			continue
		}
		s, _ := m["status"].(string)
		r, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		return &cond{Status: s, Reason: r, Message: msg}
	}
	return nil
}

func renderTree(w io.Writer, roots []*Node) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREADY\tREASON\tDETAILS")
	var walk func(n *Node, prefix, branch string)
	walk = func(n *Node, prefix, branch string) {
		ready, reason := dash(n.Ready), dash(n.Reason)
		if n.Missing {
			ready, reason = "-", "(not found)"
		}
		fmt.Fprintf(tw, "%s\t%s%s%s/%s\t%s\t%s\t%s\n", n.Namespace, prefix, branch, n.Kind, n.Name, ready, reason, strings.Join(n.Details, " "))
		childPrefix := prefix
		switch branch {
		case "├─":
			childPrefix += "│ "
		case "└─":
			childPrefix += "  "
		}
		for i, c := range n.Children {
			b := "├─"
			if i == len(n.Children)-1 {
				b = "└─"
			}
			walk(c, childPrefix, b)
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
