// Package release checks what a release publishes is consistent before a tag is pushed: the
// GitHub workflows pass actionlint (ACTIONLINT_BIN, built by `make tools`; skipped without it
// except in CI), the chart's version, appVersion and the CHANGELOG name one version, the
// README's install section names what that version publishes, and goreleaser builds only
// packages that exist.
package release
