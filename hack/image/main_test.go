package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var testPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

func testOptions(epoch int64) options {
	return options{Registry: "ghcr.io/b24ops", Tag: "0.1.0", Platforms: testPlatforms,
		Created: time.Unix(epoch, 0).UTC(), Labels: map[string]string{"org.opencontainers.image.version": "0.1.0"}}
}

func testBinaries(amd64, arm64 string) map[string][]byte {
	return map[string][]byte{
		platformKey(testPlatforms[0]): []byte(amd64),
		platformKey(testPlatforms[1]): []byte(arm64),
	}
}

var managerSpec = spec{Name: "b24-operator", Package: "./cmd/manager", Binary: "/manager"}

func indexDigest(t *testing.T, s spec, opts options, bins map[string][]byte) v1.Hash {
	t.Helper()
	idx, err := assemble(s, opts, bins)
	if err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAssembleIsReproducible(t *testing.T) {
	base := indexDigest(t, managerSpec, testOptions(1700000000), testBinaries("amd64", "arm64"))
	cases := []struct {
		name  string
		opts  options
		bins  map[string][]byte
		equal bool
	}{
		{"same inputs give the same digest", testOptions(1700000000), testBinaries("amd64", "arm64"), true},
		{"another source date changes the digest", testOptions(1700000001), testBinaries("amd64", "arm64"), false},
		{"another binary changes the digest", testOptions(1700000000), testBinaries("amd64", "arm64!"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := indexDigest(t, managerSpec, tc.opts, tc.bins)
			if (got == base) != tc.equal {
				t.Fatalf("digest %s vs %s: equal=%v, want %v", got, base, got == base, tc.equal)
			}
		})
	}
}

func TestImageIsEmptyBaseNonRootStatic(t *testing.T) {
	opts := testOptions(1700000000)
	idx, err := assemble(managerSpec, opts, testBinaries("amd64-binary", "arm64-binary"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want one per platform", len(im.Manifests))
	}
	for i, m := range im.Manifests {
		if m.Platform == nil || m.Platform.Architecture != testPlatforms[i].Architecture || m.Platform.OS != "linux" {
			t.Fatalf("manifest %d platform %+v, want %+v", i, m.Platform, testPlatforms[i])
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" {
			t.Errorf("user %q, want the numeric non-root user 65532:65532", cf.Config.User)
		}
		if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/manager" {
			t.Errorf("entrypoint %q, want [/manager]", cf.Config.Entrypoint)
		}
		if cf.Architecture != m.Platform.Architecture {
			t.Errorf("config architecture %q, want %q", cf.Architecture, m.Platform.Architecture)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != 1 {
			t.Fatalf("%d layers, want the one layer on an empty base", len(layers))
		}
		files := layerFiles(t, layers[0])
		want := testPlatforms[i].Architecture + "-binary"
		if f, ok := files["manager"]; !ok || string(f.data) != want || f.mode != 0o755 || f.uid != 0 {
			t.Errorf("manager in the layer: %+v, want root-owned 0755 %q", f, want)
		}
		if f := files["etc/passwd"]; !bytes.Contains(f.data, []byte("nonroot:x:65532:65532:")) {
			t.Errorf("/etc/passwd %q does not name user 65532", f.data)
		}
		for name, f := range files {
			if !f.mtime.Equal(opts.Created) {
				t.Errorf("%s mtime %v, want the source date %v", name, f.mtime, opts.Created)
			}
		}
	}
}

type layerFile struct {
	data  []byte
	mode  int64
	uid   int
	mtime time.Time
}

func layerFiles(t *testing.T, l v1.Layer) map[string]layerFile {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = layerFile{data: data, mode: h.Mode, uid: h.Uid, mtime: h.ModTime}
	}
}

func TestWriteOutputsAreReadableAndStable(t *testing.T) {
	opts := testOptions(1700000000)
	idx, err := assemble(managerSpec, opts, testBinaries("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	var archives [2][]byte
	for i := range archives {
		out := t.TempDir()
		digest, err := write(out, managerSpec, opts, idx)
		if err != nil {
			t.Fatal(err)
		}
		lp, err := layout.FromPath(filepath.Join(out, "b24-operator"))
		if err != nil {
			t.Fatal(err)
		}
		root, err := lp.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		rim, err := root.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(rim.Manifests) != 1 || rim.Manifests[0].Digest != digest {
			t.Fatalf("layout index.json %+v, want the one index %s", rim.Manifests, digest)
		}
		if got := rim.Manifests[0].Annotations[annotationContainerName]; got != "ghcr.io/b24ops/b24-operator:0.1.0" {
			t.Errorf("containerd image name %q, want the full reference", got)
		}
		img, err := tarball.ImageFromPath(filepath.Join(out, "b24-operator-linux-arm64.tar"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if cf, err := img.ConfigFile(); err != nil || cf.Architecture != "arm64" {
			t.Fatalf("docker tarball config %+v, %v: want arm64", cf, err)
		}
		if archives[i], err = os.ReadFile(filepath.Join(out, "b24-operator.tar")); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Fatal("two writes of the same index give different OCI archives")
	}
}
