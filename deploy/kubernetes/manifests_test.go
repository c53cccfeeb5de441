// The Kubernetes manifests checked against the statehouse binary and the
// admin listener's routes, without a cluster: every flag and environment
// variable the pods set is one the binary reads, every port a probe or
// Service names is the container's, and the StatefulSet, its Services and
// its PodDisruptionBudget agree with each other.
package kubernetes_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { testcluster.Main(m) }

// The image (Dockerfile): the binary at /statehouse and nothing else, no
// shell to run a command line with.
const imageBinary = "/statehouse"

// repoRoot is where the module's other files are, from this directory.
const repoRoot = "../.."

// Just enough of the Kubernetes objects to check them.

type meta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	file       string
	node       *yaml.Node
}

// intOrString is a port (a number or a name) or a count or percentage.
type intOrString string

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a number or a string", n.Line)
	}
	*v = intOrString(n.Value)
	return nil
}

type labelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []any             `yaml:"matchExpressions"`
}

type statefulSet struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		ServiceName         string        `yaml:"serviceName"`
		Replicas            *int          `yaml:"replicas"`
		PodManagementPolicy string        `yaml:"podManagementPolicy"`
		Selector            labelSelector `yaml:"selector"`
		Template            struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata meta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type podSpec struct {
	EnableServiceLinks            *bool `yaml:"enableServiceLinks"`
	TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []any `yaml:"envFrom"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	StartupProbe   *handler `yaml:"startupProbe"`
	LivenessProbe  *handler `yaml:"livenessProbe"`
	ReadinessProbe *handler `yaml:"readinessProbe"`
	Lifecycle      struct {
		PostStart *handler `yaml:"postStart"`
		PreStop   *handler `yaml:"preStop"`
	} `yaml:"lifecycle"`
	SecurityContext struct {
		RunAsNonRoot           *bool  `yaml:"runAsNonRoot"`
		RunAsUser              *int64 `yaml:"runAsUser"`
		ReadOnlyRootFilesystem *bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// handler is a probe's or a lifecycle hook's action.
type handler struct {
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port intOrString `yaml:"port"`
	} `yaml:"tcpSocket"`
	GRPC *struct {
		Port intOrString `yaml:"port"`
	} `yaml:"grpc"`
}

type service struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
			Protocol   string      `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type podDisruptionBudget struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		MaxUnavailable *intOrString  `yaml:"maxUnavailable"`
		MinAvailable   *intOrString  `yaml:"minAvailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

// manifests are the objects of every file kustomization.yaml lists.
type manifests struct {
	resources []string
	objects   []object
}

func load(t *testing.T) *manifests {
	t.Helper()
	var k struct {
		Resources []string `yaml:"resources"`
	}
	decodeFile(t, "kustomization.yaml", &k)
	m := &manifests{resources: k.Resources}
	for _, file := range k.Resources {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", file, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			var o object
			if err := n.Decode(&o); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s line %d: an object needs apiVersion, kind and metadata.name", file, n.Line)
			}
			o.file, o.node = file, &n
			m.objects = append(m.objects, o)
		}
	}
	return m
}

func decodeFile(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// all decodes every object of a kind.
func all[T any](t *testing.T, m *manifests, kind string) []T {
	t.Helper()
	var out []T
	for _, o := range m.objects {
		if o.Kind != kind {
			continue
		}
		var v T
		if err := o.node.Decode(&v); err != nil {
			t.Fatalf("%s: %s %s: %v", o.file, kind, o.Metadata.Name, err)
		}
		out = append(out, v)
	}
	return out
}

// theStatefulSet is the one StatefulSet, and its statehouse container.
func theStatefulSet(t *testing.T, m *manifests) (statefulSet, container) {
	t.Helper()
	sets := all[statefulSet](t, m, "StatefulSet")
	if len(sets) != 1 {
		t.Fatalf("want one StatefulSet, have %d", len(sets))
	}
	s := sets[0]
	for _, c := range s.Spec.Template.Spec.Containers {
		if c.Name == "statehouse" {
			return s, c
		}
	}
	t.Fatalf("StatefulSet %s has no container named statehouse", s.Metadata.Name)
	return s, container{}
}

// What the binary says it reads.

type binaryInfo struct {
	path       string
	flags      map[string]bool // the server's flags
	envs       map[string]bool // their environment twins and the operator commands'
	operations []string        // operator commands: members, status...
}

var (
	infoOnce sync.Once
	info     binaryInfo
	infoErr  error
)

// binary builds cmd/statehouse and reads its flags, their environment
// twins and its operator commands from its --help.
func binary(t *testing.T) binaryInfo {
	t.Helper()
	path := testcluster.Binary(t)
	infoOnce.Do(func() { info, infoErr = readHelp(path) })
	if infoErr != nil {
		t.Fatal(infoErr)
	}
	return info
}

var (
	helpFlag   = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)`)
	helpEnv    = regexp.MustCompile(`env (STATEHOUSE_[A-Z0-9_]+)`)
	helpTwins  = regexp.MustCompile(`--([a-z0-9-]+) is (STATEHOUSE_[A-Z0-9_]+)`)
	helpOpsRun = regexp.MustCompile(`statehouse ([a-z-]+(?:\|[a-z-]+)+)`)
)

func readHelp(path string) (binaryInfo, error) {
	out, code := run(path, "--help")
	if code != 0 {
		return binaryInfo{}, fmt.Errorf("statehouse --help exited %d:\n%s", code, out)
	}
	bi := binaryInfo{path: path, flags: map[string]bool{}, envs: map[string]bool{}}
	// "--peer-port is STATEHOUSE_PEER_PORT": the rule the twins follow.
	twin := helpTwins.FindStringSubmatch(out)
	if twin == nil || envTwin(twin[1]) != twin[2] {
		return bi, fmt.Errorf("statehouse --help no longer says how flags map to environment variables as this test does (--peer-port is STATEHOUSE_PEER_PORT):\n%s", out)
	}
	for _, f := range helpFlag.FindAllStringSubmatch(out, -1) {
		bi.flags[f[1]] = true
		bi.envs[envTwin(f[1])] = true
	}
	if len(bi.flags) < 10 {
		return bi, fmt.Errorf("found only %d flags in statehouse --help:\n%s", len(bi.flags), out)
	}
	ops := helpOpsRun.FindStringSubmatch(out)
	if ops == nil {
		return bi, fmt.Errorf("statehouse --help lists no operator commands:\n%s", out)
	}
	bi.operations = strings.Split(ops[1], "|")
	for _, op := range bi.operations {
		out, code := run(path, op, "--help")
		if (code != 0 && code != 2) || !strings.Contains(out, "Usage: statehouse "+op) {
			return bi, fmt.Errorf("statehouse %s --help exited %d:\n%s", op, code, out)
		}
		for _, e := range helpEnv.FindAllStringSubmatch(out, -1) {
			bi.envs[e[1]] = true
		}
	}
	return bi, nil
}

// envTwin is a flag's environment variable, as cmd/statehouse names it.
func envTwin(flag string) string {
	return "STATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// run runs the binary with a clean environment and returns its combined
// output and exit status.
func run(path string, args ...string) (string, int) {
	cmd := exec.Command(path, args...)
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	default:
		return err.Error(), -1
	}
}

// flagName is the name of a command-line flag argument, "" if arg is not
// one.
func flagName(arg string) string {
	if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name
}

// flagValue is the value the container gives a flag, from its arguments
// or else its environment twin.
func flagValue(c container, flag string) (string, bool) {
	for i, a := range c.Args {
		if flagName(a) != flag {
			continue
		}
		if _, v, ok := strings.Cut(a, "="); ok {
			return v, true
		}
		if i+1 < len(c.Args) {
			return c.Args[i+1], true
		}
	}
	for _, e := range c.Env {
		if e.Name == envTwin(flag) {
			return e.Value, true
		}
	}
	return "", false
}

// checkExec says why cmd, run in the container by a probe or hook, would
// not work: the image has no shell, only the binary and its operator
// commands.
func checkExec(bi binaryInfo, cmd []string) error {
	if len(cmd) < 2 || cmd[0] != imageBinary {
		return fmt.Errorf("%q: the image holds only %s (no shell): run %s <command>", cmd, imageBinary, imageBinary)
	}
	if !slices.Contains(bi.operations, cmd[1]) {
		return fmt.Errorf("%q: %s is not one of the binary's commands %v", cmd, cmd[1], bi.operations)
	}
	// --help after the command's own flags: they are parsed first, and an
	// unknown one is refused.
	out, code := run(bi.path, append(slices.Clone(cmd[1:]), "--help")...)
	if (code != 0 && code != 2) || strings.Contains(out, "flag provided but not defined") ||
		strings.Contains(out, "invalid value") || !strings.Contains(out, "Usage: statehouse "+cmd[1]) {
		return fmt.Errorf("%q: statehouse %s does not take these arguments (exit %d):\n%s", cmd, cmd[1], code, out)
	}
	return nil
}

// handlers are the container's probes and lifecycle hooks, by name.
func handlers(c container) map[string]*handler {
	out := map[string]*handler{}
	for name, h := range map[string]*handler{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe,
		"readinessProbe": c.ReadinessProbe, "postStart": c.Lifecycle.PostStart, "preStop": c.Lifecycle.PreStop} {
		if h != nil {
			out[name] = h
		}
	}
	return out
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestKustomizationListsEveryManifest: kubectl apply -k applies exactly
// the files here, each of them objects Kubernetes can take.
func TestKustomizationListsEveryManifest(t *testing.T) {
	m := load(t)
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f != "kustomization.yaml" && !slices.Contains(m.resources, f) {
			t.Errorf("%s is not listed in kustomization.yaml's resources", f)
		}
	}
	kinds := map[string]string{"StatefulSet": "apps/v1", "Service": "v1", "Secret": "v1", "PodDisruptionBudget": "policy/v1"}
	seen := map[string]bool{}
	for _, o := range m.objects {
		if want, ok := kinds[o.Kind]; ok && o.APIVersion != want {
			t.Errorf("%s: %s %s has apiVersion %s, want %s", o.file, o.Kind, o.Metadata.Name, o.APIVersion, want)
		}
		key := o.Kind + "/" + o.Metadata.Name
		if seen[key] {
			t.Errorf("%s: %s is defined twice", o.file, key)
		}
		seen[key] = true
	}
	for _, key := range []string{"StatefulSet/statehouse", "Service/statehouse", "PodDisruptionBudget/statehouse"} {
		if !seen[key] {
			t.Errorf("no %s", key)
		}
	}

	// kubectl builds the same objects, where it is installed (no cluster
	// is needed to build).
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl is not installed: not building with kubectl kustomize")
		return
	}
	out, err := exec.Command(kubectl, "kustomize", ".").Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	built := map[string]bool{}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubectl kustomize's output: %v", err)
		}
		built[o.Kind+"/"+o.Metadata.Name] = true
	}
	for key := range seen {
		if !built[key] {
			t.Errorf("kubectl kustomize does not build %s", key)
		}
	}
	if len(built) != len(seen) {
		t.Errorf("kubectl kustomize builds %d objects, the files hold %d", len(built), len(seen))
	}
}

// TestFlagsAndEnvExistInBinary: the container runs the image's binary
// with flags it has (and values they take), and sets only environment
// variables it reads: the server's flag twins and the operator commands'
// STATEHOUSE_PASSWORD and STATEHOUSE_ADDR. A misspelt STATEHOUSE_ name
// would be ignored without a word.
func TestFlagsAndEnvExistInBinary(t *testing.T) {
	m := load(t)
	bi := binary(t)
	_, c := theStatefulSet(t, m)
	if len(c.Command) > 0 && !slices.Equal(c.Command, []string{imageBinary}) {
		t.Errorf("command %q: leave it to the image's entrypoint, or make it [%s]", c.Command, imageBinary)
	}
	if len(c.EnvFrom) > 0 {
		t.Errorf("envFrom: list each STATEHOUSE_ variable so this test can check its name")
	}
	fromArgs := map[string]bool{}
	for _, a := range c.Args {
		name := flagName(a)
		if name == "" {
			continue
		}
		if !bi.flags[name] {
			t.Errorf("args: statehouse has no flag --%s", name)
		}
		fromArgs[name] = true
	}
	// The binary parses the arguments itself, values and all, before it
	// stops at --help.
	if out, code := run(bi.path, append(slices.Clone(c.Args), "--help")...); code != 0 {
		t.Errorf("statehouse %s --help: exit %d:\n%s", strings.Join(c.Args, " "), code, out)
	}
	envSet := map[string]bool{}
	for _, e := range c.Env {
		if envSet[e.Name] {
			t.Errorf("env %s is set twice", e.Name)
		}
		envSet[e.Name] = true
		if !strings.HasPrefix(e.Name, "STATEHOUSE_") {
			continue
		}
		if !bi.envs[e.Name] {
			t.Errorf("env %s: statehouse reads no such variable", e.Name)
		}
	}
	// Secret keys the variables come from are in the Secret applied with
	// them.
	secrets := map[string]map[string]bool{}
	for _, o := range m.objects {
		if o.Kind != "Secret" {
			continue
		}
		var sec struct {
			Data       map[string]string `yaml:"data"`
			StringData map[string]string `yaml:"stringData"`
		}
		if err := o.node.Decode(&sec); err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		for k := range sec.Data {
			keys[k] = true
		}
		for k := range sec.StringData {
			keys[k] = true
		}
		secrets[o.Metadata.Name] = keys
	}
	for _, e := range c.Env {
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name == "" {
			continue
		}
		if keys, ok := secrets[ref.Name]; !ok {
			t.Errorf("env %s: no Secret %s", e.Name, ref.Name)
		} else if !keys[ref.Key] {
			t.Errorf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
		}
	}
	for name := range fromArgs {
		if envSet[envTwin(name)] {
			t.Errorf("--%s is in args and %s in env: the argument wins, the variable is ignored", name, envTwin(name))
		}
	}
	for _, want := range []string{"STATEHOUSE_NODE_ID", "STATEHOUSE_ADVERTISE", "STATEHOUSE_REQUIREPASS", "STATEHOUSE_PASSWORD", "STATEHOUSE_CLUSTER_SECRET"} {
		if !envSet[want] {
			t.Errorf("env %s is not set", want)
		}
	}
}

// TestExecCommandsAreOperatorCommands: a probe or hook that runs a
// command runs the binary's own (the preStop hook, if there is one).
func TestExecCommandsAreOperatorCommands(t *testing.T) {
	m := load(t)
	bi := binary(t)
	s, _ := theStatefulSet(t, m)
	pod := s.Spec.Template.Spec
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for name, h := range handlers(c) {
			if h.Exec == nil {
				continue
			}
			if err := checkExec(bi, h.Exec.Command); err != nil {
				t.Errorf("container %s %s: %v", c.Name, name, err)
			}
		}
	}

	// The check itself catches what it should.
	for _, tc := range []struct {
		cmd []string
		ok  bool
	}{
		{[]string{imageBinary, "transfer-leader"}, true},
		{[]string{imageBinary, "health", "--timeout", "2s"}, true},
		{[]string{imageBinary, "remove", "statehouse-3"}, true},
		{[]string{"/bin/sh", "-c", "statehouse health"}, false},
		{[]string{imageBinary, "leave"}, false},
		{[]string{imageBinary, "health", "--wait"}, false},
		{[]string{imageBinary, "health", "--timeout", "soon"}, false},
	} {
		if err := checkExec(bi, tc.cmd); (err == nil) != tc.ok {
			t.Errorf("checkExec(%q) = %v, want ok=%v", tc.cmd, err, tc.ok)
		}
	}
}

// TestNamedPortsExist: every port a probe or Service refers to is one the
// container declares, with the same protocol, and the admin port is the
// one --http-addr listens on.
func TestNamedPortsExist(t *testing.T) {
	m := load(t)
	s, c := theStatefulSet(t, m)
	type port struct {
		number   int
		protocol string
	}
	byName := map[string]port{}
	byNumber := map[port]bool{}
	for _, p := range c.Ports {
		proto := cmp.Or(p.Protocol, "TCP")
		if p.Name != "" {
			if _, dup := byName[p.Name]; dup {
				t.Errorf("container port name %s is used twice", p.Name)
			}
			if len(p.Name) > 15 {
				t.Errorf("container port name %s is longer than 15 characters", p.Name)
			}
			byName[p.Name] = port{p.ContainerPort, proto}
		}
		byNumber[port{p.ContainerPort, proto}] = true
	}
	resolve := func(ref intOrString, proto string) (int, error) {
		if n, err := strconv.Atoi(string(ref)); err == nil {
			if !byNumber[port{n, proto}] {
				return 0, fmt.Errorf("port %d/%s is not a container port", n, proto)
			}
			return n, nil
		}
		p, ok := byName[string(ref)]
		if !ok {
			return 0, fmt.Errorf("the container has no port named %s", ref)
		}
		if p.protocol != proto {
			return 0, fmt.Errorf("port %s is %s, not %s", ref, p.protocol, proto)
		}
		return p.number, nil
	}

	// The ports statehouse listens on, from its flags.
	httpAddr, ok := flagValue(c, "http-addr")
	if !ok {
		t.Fatal("--http-addr is not set: no /healthz or /readyz to probe")
	}
	_, httpPort, _ := strings.Cut(httpAddr, ":")
	listens := map[int]string{6379: "client (--port)", 16379: "peer (--peer-port)", 7946: "gossip (--gossip-port)"}
	if n, err := strconv.Atoi(httpPort); err == nil {
		listens[n] = "admin (--http-addr)"
	} else {
		t.Errorf("--http-addr %s has no port", httpAddr)
	}
	for _, f := range []string{"port", "peer-port", "gossip-port"} {
		if _, set := flagValue(c, f); set {
			t.Errorf("--%s is set: this test assumes the default ports", f)
		}
	}
	for n := range byNumber {
		if _, ok := listens[n.number]; !ok {
			t.Errorf("container port %d/%s: statehouse does not listen there", n.number, n.protocol)
		}
	}
	for n, what := range listens {
		if !byNumber[port{n, "TCP"}] {
			t.Errorf("statehouse's %s port %d is not a container port", what, n)
		}
	}
	if !byNumber[port{7946, "UDP"}] {
		t.Errorf("gossip's UDP port 7946 is not a container port")
	}

	for name, h := range handlers(c) {
		switch {
		case h.HTTPGet != nil:
			n, err := resolve(h.HTTPGet.Port, "TCP")
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if listens[n] != "admin (--http-addr)" {
				t.Errorf("%s: HTTP on port %d, but the admin listener is on %s", name, n, httpAddr)
			}
		case h.TCPSocket != nil:
			if _, err := resolve(h.TCPSocket.Port, "TCP"); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case h.GRPC != nil:
			t.Errorf("%s: statehouse serves no gRPC", name)
		}
	}

	for _, svc := range all[service](t, m, "Service") {
		if !subset(svc.Spec.Selector, s.Spec.Template.Metadata.Labels) {
			t.Errorf("Service %s: selector %v does not select the pods (labels %v)", svc.Metadata.Name, svc.Spec.Selector, s.Spec.Template.Metadata.Labels)
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target == "" {
				target = intOrString(strconv.Itoa(p.Port))
			}
			if _, err := resolve(target, cmp.Or(p.Protocol, "TCP")); err != nil {
				t.Errorf("Service %s port %s: %v", svc.Metadata.Name, p.Name, err)
			}
		}
	}
}

// TestProbePathsAreServed: the HTTP probes ask for paths the admin
// listener (server/http.go) serves.
func TestProbePathsAreServed(t *testing.T) {
	m := load(t)
	_, c := theStatefulSet(t, m)
	routes := adminRoutes(t)
	for _, want := range []string{"/healthz", "/readyz"} {
		if !slices.Contains(routes, want) {
			t.Fatalf("server/http.go no longer serves %s (it serves %v): update the probes and this test", want, routes)
		}
	}
	probes := map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
	for name, h := range handlers(c) {
		if h.HTTPGet == nil {
			continue
		}
		if !served(routes, h.HTTPGet.Path) {
			t.Errorf("%s: %s is not served by the admin listener (it serves %v)", name, h.HTTPGet.Path, routes)
		}
		if want, ok := probes[name]; ok && h.HTTPGet.Path != want {
			t.Errorf("%s: GET %s, want %s", name, h.HTTPGet.Path, want)
		}
		delete(probes, name)
	}
	for name, want := range probes {
		t.Errorf("no %s (GET %s)", name, want)
	}
}

// adminRoutes are the patterns server/http.go registers on its mux.
func adminRoutes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot, "server", "http.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				routes = append(routes, s)
			}
		}
		return true
	})
	return routes
}

// served: a pattern ending in / serves everything under it.
func served(routes []string, path string) bool {
	for _, r := range routes {
		if r == path || (strings.HasSuffix(r, "/") && strings.HasPrefix(path, r)) {
			return true
		}
	}
	return false
}

// TestClusterFormation: the pods form one cluster by themselves. The
// StatefulSet starts them together (Parallel), as many as
// --bootstrap-expect; they join through the headless Service, which lists
// them before they are ready; each has a stable node id.
func TestClusterFormation(t *testing.T) {
	m := load(t)
	s, c := theStatefulSet(t, m)
	if s.Spec.PodManagementPolicy != "Parallel" {
		t.Errorf("podManagementPolicy %q: with OrderedReady the first pod waits to be ready, and it is not before the others start", s.Spec.PodManagementPolicy)
	}
	expect, ok := flagValue(c, "bootstrap-expect")
	if !ok {
		t.Fatal("--bootstrap-expect is not set")
	}
	replicas := 1
	if s.Spec.Replicas != nil {
		replicas = *s.Spec.Replicas
	}
	if strconv.Itoa(replicas) != expect {
		t.Errorf("replicas %d, --bootstrap-expect %s: they must be the same for the first pods to form a cluster", replicas, expect)
	}
	if replicas < 3 || replicas%2 == 0 {
		t.Errorf("replicas %d: a cluster that survives a failure needs an odd number, at least 3", replicas)
	}

	var headless *service
	for _, svc := range all[service](t, m, "Service") {
		if svc.Metadata.Name == s.Spec.ServiceName {
			headless = &svc
		}
	}
	if headless == nil {
		t.Fatalf("serviceName %q: there is no such Service", s.Spec.ServiceName)
	}
	if headless.Spec.ClusterIP != "None" {
		t.Errorf("Service %s: clusterIP %q, want None (headless: its name resolves to the pods)", headless.Metadata.Name, headless.Spec.ClusterIP)
	}
	if !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: publishNotReadyAddresses must be true: pods are not ready until they have found each other through it", headless.Metadata.Name)
	}
	join, ok := flagValue(c, "join")
	if !ok {
		t.Fatal("--join is not set")
	}
	for _, a := range strings.Split(join, ",") {
		host := strings.TrimSpace(a)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host != headless.Metadata.Name && !strings.HasPrefix(host, headless.Metadata.Name+".") {
			t.Errorf("--join %s: not the headless Service %s", a, headless.Metadata.Name)
		}
	}

	fields, values := map[string]string{}, map[string]string{}
	for _, e := range c.Env {
		fields[e.Name] = e.ValueFrom.FieldRef.FieldPath
		values[e.Name] = e.Value
	}
	if fields["STATEHOUSE_NODE_ID"] != "metadata.name" {
		t.Errorf("STATEHOUSE_NODE_ID from %q, want the pod's name (metadata.name): stable across restarts", fields["STATEHOUSE_NODE_ID"])
	}
	// Raft keeps the advertised name as the peer address: the pod's stable
	// DNS name under the headless Service survives every pod coming back
	// at a new IP at once (gossip advertises the pod's IP by itself).
	if want := "$(STATEHOUSE_NODE_ID)." + headless.Metadata.Name; values["STATEHOUSE_ADVERTISE"] != want {
		t.Errorf("STATEHOUSE_ADVERTISE is %q, want %q: the pod's stable DNS name", values["STATEHOUSE_ADVERTISE"], want)
	}
	if v, ok := flagValue(c, "leave-on-terminate"); ok && v != "false" {
		t.Errorf("--leave-on-terminate: every rolling update would take the pods out of the cluster for good")
	}
}

// TestDisruptionBudgetKeepsQuorum: voluntary disruptions leave a majority
// of the pods up, and the budget covers the StatefulSet's pods.
func TestDisruptionBudgetKeepsQuorum(t *testing.T) {
	m := load(t)
	s, _ := theStatefulSet(t, m)
	pdbs := all[podDisruptionBudget](t, m, "PodDisruptionBudget")
	if len(pdbs) != 1 {
		t.Fatalf("want one PodDisruptionBudget, have %d", len(pdbs))
	}
	p := pdbs[0]
	if len(p.Spec.Selector.MatchExpressions) > 0 {
		t.Errorf("PodDisruptionBudget %s: matchExpressions are not checked here; use matchLabels", p.Metadata.Name)
	}
	if !subset(p.Spec.Selector.MatchLabels, s.Spec.Template.Metadata.Labels) {
		t.Errorf("PodDisruptionBudget %s: selector %v does not select the pods (labels %v)", p.Metadata.Name, p.Spec.Selector.MatchLabels, s.Spec.Template.Metadata.Labels)
	}
	if !subset(s.Spec.Selector.MatchLabels, s.Spec.Template.Metadata.Labels) {
		t.Errorf("StatefulSet selector %v does not select its own pods", s.Spec.Selector.MatchLabels)
	}
	if p.Spec.MaxUnavailable == nil || *p.Spec.MaxUnavailable != "1" || p.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget %s: want maxUnavailable 1 and no minAvailable: a majority stays up whatever the replicas", p.Metadata.Name)
	}
}

// TestPodRunsAsTheImageExpects: non-root on a read-only root file system,
// the data dir on the claimed volume, enough time to hand leadership on,
// and no service-link variables that statehouse would read as flags.
func TestPodRunsAsTheImageExpects(t *testing.T) {
	m := load(t)
	s, c := theStatefulSet(t, m)
	pod := s.Spec.Template.Spec
	if !isTrue(c.SecurityContext.RunAsNonRoot) && !isTrue(pod.SecurityContext.RunAsNonRoot) {
		t.Error("runAsNonRoot is not set")
	}
	if uid := cmpPtr(c.SecurityContext.RunAsUser, pod.SecurityContext.RunAsUser); uid == nil || *uid == 0 {
		t.Error("runAsUser: the image (FROM scratch) names no user, so give a non-zero uid or runAsNonRoot refuses to start it")
	}
	if !isTrue(c.SecurityContext.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem is not set")
	}

	dataDir, ok := flagValue(c, "data-dir")
	if !ok {
		dataDir = dockerfileEnv(t, "STATEHOUSE_DATA_DIR")
	}
	claims := map[string]bool{}
	for _, v := range s.Spec.VolumeClaimTemplates {
		claims[v.Metadata.Name] = true
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		if filepath.Clean(vm.MountPath) == filepath.Clean(dataDir) {
			mounted = true
			if !claims[vm.Name] {
				t.Errorf("the data dir %s is volume %s, not one of the volumeClaimTemplates: the Raft log would not outlive the pod", dataDir, vm.Name)
			}
		}
	}
	if !mounted {
		t.Errorf("nothing is mounted at the data dir %s", dataDir)
	}

	// SIGTERM: a leader hands leadership on (up to leaveTimeout), then the
	// node snapshots and closes its log.
	leave := leaveTimeoutSeconds(t)
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 2*leave {
		t.Errorf("terminationGracePeriodSeconds %v: want at least %d, twice the hand-off's %d s", deref(g), 2*leave, leave)
	}

	// Kubernetes sets <SERVICE>_PORT and the like for every Service in
	// the namespace; for a Service named statehouse, STATEHOUSE_PORT is
	// --port's twin.
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		bi := binary(t)
		for _, svc := range all[service](t, m, "Service") {
			for _, e := range serviceLinkEnv(svc) {
				if bi.envs[e] {
					t.Errorf("Service %s makes Kubernetes set %s, which statehouse reads: set enableServiceLinks: false", svc.Metadata.Name, e)
				}
			}
		}
	}
}

// serviceLinkEnv is what Kubernetes sets in pods for a Service when
// enableServiceLinks is on (Docker links' names).
func serviceLinkEnv(svc service) []string {
	if svc.Spec.ClusterIP == "None" {
		return nil
	}
	p := strings.ToUpper(strings.ReplaceAll(svc.Metadata.Name, "-", "_"))
	out := []string{p + "_SERVICE_HOST", p + "_SERVICE_PORT", p + "_PORT"}
	for _, sp := range svc.Spec.Ports {
		proto := cmp.Or(sp.Protocol, "TCP")
		if sp.Name != "" {
			out = append(out, p+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(sp.Name, "-", "_")))
		}
		base := fmt.Sprintf("%s_PORT_%d_%s", p, sp.Port, proto)
		out = append(out, base, base+"_PROTO", base+"_PORT", base+"_ADDR")
	}
	return out
}

// dockerfileEnv is an ENV the image sets.
func dockerfileEnv(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^ENV\s+` + name + `[= ](\S+)`)
	mt := re.FindSubmatch(b)
	if mt == nil {
		t.Fatalf("the Dockerfile sets no %s", name)
	}
	return string(mt[1])
}

// leaveTimeoutSeconds is cmd/statehouse's bound on a graceful stop's
// hand-off.
func leaveTimeoutSeconds(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "cmd", "statehouse", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	mt := regexp.MustCompile(`const leaveTimeout = (\d+) \* time\.Second`).FindSubmatch(b)
	if mt == nil {
		t.Fatal("cmd/statehouse/main.go has no `const leaveTimeout = N * time.Second`: update this test")
	}
	n, _ := strconv.Atoi(string(mt[1]))
	return n
}

func isTrue(b *bool) bool { return b != nil && *b }

func cmpPtr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

func deref(p *int) any {
	if p == nil {
		return "unset"
	}
	return *p
}
