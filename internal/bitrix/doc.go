// Package bitrix is a typed client for the Bitrix24 REST API of one application on one portal.
// It speaks HTTP only and knows nothing of Kubernetes or of the operator's CRD types.
package bitrix
