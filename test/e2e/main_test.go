//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cdi-functions/cdi-functions/test/e2e/netwatch"
)

// defaultStateDir is the cluster's state directory unless CDI_CLUSTER_STATE
// says otherwise (hack/cluster/lib.sh).
const defaultStateDir = "/var/lib/cdi-functions-cluster"

// stateDir returns the cluster's state directory.
func stateDir() string {
	if d := os.Getenv("CDI_CLUSTER_STATE"); d != "" {
		return d
	}
	return defaultStateDir
}

// guardGID is the supplementary group of the cluster's host processes
// (hack/cluster/lib.sh GUARD_GID).
const guardGID = 61442

// clusterNetworks are where cluster traffic may go: loopback, the pod
// subnet and the service CIDR (hack/cluster/lib.sh).
var clusterNetworks = netwatch.Allowed{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.244.0.0/24"),
	netip.MustParsePrefix("10.96.0.0/12"),
}

// suite is what every test shares; TestMain sets it up.
type suite struct {
	client  kubernetes.Interface
	config  *rest.Config // the admin's, for clients that impersonate
	image   string       // volcheck, built by ko from this repository
	watcher *netwatch.Watcher
	stop    context.CancelFunc
	done    chan error
}

var e2e suite

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e setup: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	e2e.stopWatcher()
	os.Exit(code)
}

func setup() error {
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = filepath.Join(stateDir(), "kubeconfig")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s (is the cluster up? make cluster-up): %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100 // the tests poll; the default 5 QPS throttles them
	e2e.config = cfg
	e2e.client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	if _, err := e2e.client.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("reach the API server of %s (make cluster-up): %w", kubeconfig, err)
	}

	e2e.watcher = netwatch.New(netwatch.Config{ProcRoot: "/proc", GuardGID: guardGID, Allowed: clusterNetworks})
	ctx, cancel := context.WithCancel(context.Background())
	e2e.stop, e2e.done = cancel, make(chan error, 1)
	go func() { e2e.done <- e2e.watcher.Run(ctx, 100*time.Millisecond) }()

	start := time.Now()
	e2e.image, err = koBuild("./test/e2e/cmd/volcheck")
	if err != nil {
		return err
	}
	fmt.Printf("e2e: built %s with ko in %s\n", e2e.image, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// stopWatcher ends the sampling and waits for it.
func (s *suite) stopWatcher() error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	s.stop = nil
	return <-s.done
}

// koBuild builds importPath (relative to the repository root, where ko.yaml's
// paths point) with ko into the loopback registry and returns the image
// reference.
func koBuild(importPath string) (string, error) {
	out, err := runKo("build", "--base-import-paths", importPath)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// runKo runs ko in the repository root with the local cluster's ko
// environment and returns its standard output. Without KO_DOCKER_REPO in the
// environment it loads that environment from hack/ko-env.sh.
func runKo(args ...string) (string, error) {
	return runKoEnv(nil, args...)
}

// runKoEnv is runKo with extra KEY=VALUE environment entries, which win.
func runKoEnv(extra []string, args ...string) (string, error) {
	env := os.Environ()
	if os.Getenv("KO_DOCKER_REPO") == "" {
		out, err := exec.Command("bash", "../../hack/ko-env.sh").Output()
		if err != nil {
			return "", fmt.Errorf("hack/ko-env.sh: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			kv, ok := strings.CutPrefix(sc.Text(), "export ")
			if !ok {
				continue
			}
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				kv = "PATH=" + strings.ReplaceAll(v, "$PATH", os.Getenv("PATH"))
			}
			env = append(env, kv)
		}
	}
	ko, err := exec.LookPath("ko")
	if err != nil {
		gopath, gerr := exec.Command("go", "env", "GOPATH").Output()
		if gerr != nil {
			return "", fmt.Errorf("find ko (make ko-install): %w", err)
		}
		ko = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "ko")
	}
	cmd := exec.Command(ko, args...)
	cmd.Dir = "../.."
	cmd.Env = append(env, extra...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("ko %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}
