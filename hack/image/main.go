// Command image builds the project's container images without a container engine: for each
// image and platform it cross-compiles a static Go binary and puts it, with an /etc/passwd
// naming the non-root user, on an empty base. The result is a multi-platform OCI image index
// written as an OCI image layout, an OCI archive (a tar of that layout, for `ctr images
// import`, `skopeo copy oci-archive:` or `crane push`) and one docker-load tarball per
// platform.
//
//	go run ./hack/image -out out/image -tag 0.1.0 b24-operator=./cmd/manager b24sim=./cmd/b24sim
//
// The build is reproducible: binaries are built with -trimpath and no build ID, every file
// and history entry carries the SOURCE_DATE_EPOCH time, and tar entries are written in a fixed
// order, so the same commit and Go toolchain give the same digests.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user every image runs as: the same numeric user as distroless "nonroot", which the
// chart's securityContext names.
const (
	nonRootUID  = 65532
	nonRootName = "nonroot"
)

// Annotations containerd and the OCI layout use to name an image in an archive.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerName = "io.containerd.image.name"
)

// spec is one image: its repository name and the Go package of its only binary.
type spec struct {
	Name    string // repository name under the registry, e.g. b24-operator
	Package string // Go package of the binary, e.g. ./cmd/manager
	Binary  string // path of the binary in the image, e.g. /manager
}

// options apply to every image of one run.
type options struct {
	Registry  string
	Tag       string
	Platforms []v1.Platform
	Created   time.Time
	Labels    map[string]string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fl.String("out", "out/image", "Output directory.")
	registry := fl.String("registry", "ghcr.io/b24ops", "Registry and namespace the images are named under.")
	tag := fl.String("tag", "dev", "Tag of the images.")
	platforms := fl.String("platforms", "linux/amd64,linux/arm64", "Comma-separated platforms.")
	epoch := fl.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Unix time of every file and history entry (default 0).")
	revision := fl.String("revision", "", "Source revision for the org.opencontainers.image.revision label.")
	source := fl.String("source", "https://github.com/b24ops/b24-operator", "Source URL for the org.opencontainers.image.source label.")
	verify := fl.Bool("verify", true, "Build every image twice (binaries included) and fail unless both give the same digest.")
	if err := fl.Parse(args); err != nil {
		return err
	}
	specs, err := parseSpecs(fl.Args())
	if err != nil {
		return err
	}
	opts := options{Registry: *registry, Tag: *tag, Labels: map[string]string{
		"org.opencontainers.image.source":   *source,
		"org.opencontainers.image.version":  *tag,
		"org.opencontainers.image.licenses": "Apache-2.0",
	}}
	if *revision != "" {
		opts.Labels["org.opencontainers.image.revision"] = *revision
	}
	if opts.Platforms, err = parsePlatforms(*platforms); err != nil {
		return err
	}
	if opts.Created, err = parseEpoch(*epoch); err != nil {
		return err
	}
	opts.Labels["org.opencontainers.image.created"] = opts.Created.Format(time.RFC3339)

	work, err := os.MkdirTemp("", "image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, s := range specs {
		idx, err := build(ctx, s, opts, filepath.Join(work, "1"))
		if err != nil {
			return err
		}
		if *verify {
			again, err := build(ctx, s, opts, filepath.Join(work, "2"))
			if err != nil {
				return err
			}
			if err := sameDigest(idx, again); err != nil {
				return fmt.Errorf("%s is not reproducible: %w", s.Name, err)
			}
		}
		digest, err := write(*out, s, opts, idx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		fmt.Fprintf(stdout, "%s/%s:%s@%s\n", opts.Registry, s.Name, opts.Tag, digest)
	}
	return nil
}

// build compiles the binary of s for every platform into work and assembles its index.
func build(ctx context.Context, s spec, opts options, work string) (v1.ImageIndex, error) {
	binaries := map[string][]byte{}
	for _, p := range opts.Platforms {
		path := filepath.Join(work, s.Name, p.OS+"-"+p.Architecture)
		if err := goBuild(ctx, s.Package, p, path); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		binaries[platformKey(p)] = b
	}
	idx, err := assemble(s, opts, binaries)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	return idx, nil
}

func sameDigest(a, b v1.ImageIndex) error {
	da, err := a.Digest()
	if err != nil {
		return err
	}
	db, err := b.Digest()
	if err != nil {
		return err
	}
	if da != db {
		return fmt.Errorf("two builds gave %s and %s", da, db)
	}
	return nil
}

// parseSpecs reads NAME=PACKAGE arguments; the binary is /<last element of the package>.
func parseSpecs(args []string) ([]spec, error) {
	if len(args) == 0 {
		return nil, errors.New("no images: pass NAME=PACKAGE arguments, e.g. b24-operator=./cmd/manager")
	}
	var specs []spec
	for _, a := range args {
		n, pkg, ok := strings.Cut(a, "=")
		if !ok || n == "" || pkg == "" {
			return nil, fmt.Errorf("image %q: want NAME=PACKAGE", a)
		}
		specs = append(specs, spec{Name: n, Package: pkg, Binary: "/" + filepath.Base(pkg)})
	}
	return specs, nil
}

func parsePlatforms(s string) ([]v1.Platform, error) {
	var ps []v1.Platform
	for _, f := range strings.Split(s, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if p.OS != "linux" {
			return nil, fmt.Errorf("platform %q: only linux images are built", f)
		}
		ps = append(ps, *p)
	}
	return ps, nil
}

func parseEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("source date epoch %q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func platformKey(p v1.Platform) string { return p.OS + "/" + p.Architecture + "/" + p.Variant }

// goBuild cross-compiles a static, reproducible binary.
func goBuild(ctx context.Context, pkg string, p v1.Platform, out string) error {
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Variant != "" && p.Architecture == "arm" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %w", pkg, platformKey(p), err)
	}
	return nil
}

// assemble builds the image index of one image from its binary per platform.
func assemble(s spec, opts options, binaries map[string][]byte) (v1.ImageIndex, error) {
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range opts.Platforms {
		bin, ok := binaries[platformKey(p)]
		if !ok {
			return nil, fmt.Errorf("no binary for %s", platformKey(p))
		}
		img, err := platformImage(s, opts, p, bin)
		if err != nil {
			return nil, err
		}
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx, nil
}

func platformImage(s spec, opts options, p v1.Platform, bin []byte) (v1.Image, error) {
	layerTar, err := rootFS(s.Binary, bin, opts.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Author:    "github.com/b24ops/b24-operator/hack/image",
			Created:   v1.Time{Time: opts.Created},
			CreatedBy: "go build -trimpath " + s.Package,
			Comment:   "static binary, /etc/passwd and /etc/group of the non-root user",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: opts.Created}
	cf.Author = ""
	cf.Config = v1.Config{
		Entrypoint: []string{s.Binary},
		User:       fmt.Sprintf("%d:%d", nonRootUID, nonRootUID),
		WorkingDir: "/",
		Env:        []string{"PATH=/"},
		Labels:     opts.Labels,
	}
	return mutate.ConfigFile(img, cf)
}

// rootFS is the image's only layer: the binary (root-owned, not writable by the user that
// runs it), /etc/passwd and /etc/group naming the non-root user, and an empty /tmp.
func rootFS(binPath string, bin []byte, mtime time.Time) ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/home/%s:/sbin/nologin\n",
		nonRootName, nonRootUID, nonRootUID, nonRootName, nonRootName)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", nonRootName, nonRootUID)
	type entry struct {
		name string
		mode int64
		uid  int
		data []byte
		dir  bool
	}
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/" + nonRootName + "/", mode: 0o700, uid: nonRootUID, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: strings.TrimPrefix(binPath, "/"), mode: 0o755, data: bin},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime,
			Typeflag: tar.TypeReg, Size: int64(len(e.data)), Format: tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// write stores one image as <out>/<name>/ (OCI layout), <out>/<name>.tar (OCI archive) and
// <out>/<name>-<os>-<arch>.tar (docker load) and returns the index digest.
func write(out string, s spec, opts options, idx v1.ImageIndex) (v1.Hash, error) {
	ref := fmt.Sprintf("%s/%s:%s", opts.Registry, s.Name, opts.Tag)
	tag, err := name.NewTag(ref)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	dir := filepath.Join(out, s.Name)
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		annotationRefName:       opts.Tag,
		annotationContainerName: ref,
	})); err != nil {
		return v1.Hash{}, err
	}
	if err := tarDir(dir, filepath.Join(out, s.Name+".tar"), opts.Created); err != nil {
		return v1.Hash{}, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			return v1.Hash{}, err
		}
		f := filepath.Join(out, fmt.Sprintf("%s-%s-%s.tar", s.Name, m.Platform.OS, m.Platform.Architecture))
		if err := tarball.WriteToFile(f, tag, img); err != nil {
			return v1.Hash{}, err
		}
	}
	return digest, os.WriteFile(filepath.Join(out, s.Name+".digest"), []byte(digest.String()+"\n"), 0o644)
}

// tarDir writes dir as a tar with entries in lexical order, owned by root, at mtime: the
// same layout gives the same bytes.
func tarDir(dir, dst string, mtime time.Time) error {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, path := range files {
		fi, err := os.Lstat(path)
		if err != nil {
			return errors.Join(err, f.Close())
		}
		rel, _ := filepath.Rel(dir, path)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Mode: 0o644, Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Name, h.Typeflag, h.Mode = h.Name+"/", tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return errors.Join(err, f.Close())
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return errors.Join(err, f.Close())
			}
			if _, err := tw.Write(data); err != nil {
				return errors.Join(err, f.Close())
			}
		}
	}
	if err := tw.Close(); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}
