package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Finalizer is added to every object before the operator makes its first remote call for it.
const Finalizer = "b24ops.io/finalizer"

// Annotations users set on objects.
const (
	// ReconcileRequestedAtAnnotation: any new value triggers an immediate reconcile, including a
	// remote drift check.
	ReconcileRequestedAtAnnotation = "b24ops.io/reconcile-requested-at"
	// ResendAnnotation: a new value asks a ScheduledJob stalled with OutcomeUnknown to send again.
	ResendAnnotation = "b24ops.io/resend"
	// MigrateHandlersAnnotation set to "true" on a ChatBot lets an update move its event
	// handlers away from the URLs the other ChatBots of its application use (a migration of
	// the application's single handler set, one bot at a time).
	MigrateHandlersAnnotation = "b24ops.io/migrate-handlers"
	// PausedAnnotation set to "true" on any object stops every remote call for it (no drift
	// check, no create, no update, no send) until it is removed; Ready keeps its status with
	// reason Paused. Deletion is never blocked: it follows the deletionPolicy.
	PausedAnnotation = "b24ops.io/paused"
	// DefaultDeletionPolicyAnnotation on a Namespace (Delete or Orphan) is the deletion policy
	// of the objects in it that do not set spec.deletionPolicy; it wins over the manager's
	// --default-deletion-policy.
	DefaultDeletionPolicyAnnotation = "b24ops.io/default-deletion-policy"
)

// Condition types. Ready is always present; Reconciling and Stalled only while True.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	// ConditionSynced (ObserveOnly objects only) says whether the remote object matches the
	// spec; its message names what differs.
	ConditionSynced = "Synced"
)

// Reasons of the Ready condition (stable, CamelCase).
const (
	ReasonSucceeded          = "Succeeded"
	ReasonProgressing        = "Progressing"
	ReasonDependencyNotReady = "DependencyNotReady"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonAuthFailed         = "AuthFailed"
	ReasonMissingScope       = "MissingScope"
	ReasonInstallNotFinished = "InstallNotFinished"
	ReasonBotLimitExceeded   = "BotLimitExceeded"
	ReasonCodeTaken          = "CodeTaken"
	ReasonRateLimited        = "RateLimited"
	ReasonRemoteError        = "RemoteError"
	// ReasonPortalUnreachable: the portal did not answer several requests in a row (timeouts,
	// refused connections); the operator holds calls to that portal back and tries again with a
	// growing pause. Other portals are not affected.
	ReasonPortalUnreachable = "PortalUnreachable"
	ReasonOutcomeUnknown    = "OutcomeUnknown"
	ReasonDeleting          = "Deleting"
	ReasonSuspended         = "Suspended"
	ReasonPaused            = "Paused"
)

// Reasons of the Synced condition.
const (
	SyncedReasonInSync   = "InSync"
	SyncedReasonDrifted  = "Drifted"
	SyncedReasonNotFound = "NotFound"
)

// LocalObjectReference names another object in the same namespace.
type LocalObjectReference struct {
	// Name of the referenced object, in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// KeyReference names one key of a Secret or ConfigMap in the same namespace.
type KeyReference struct {
	// Name of the Secret or ConfigMap, in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key is the key within the Secret's or ConfigMap's data (or binaryData) to read.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// ConfigMapSource reads bytes from a ConfigMap key (binaryData or data).
type ConfigMapSource struct {
	// ConfigMapKeyRef selects the ConfigMap and key holding the content.
	ConfigMapKeyRef KeyReference `json:"configMapKeyRef"`
}

// RateLimit is a client-side leaky bucket.
type RateLimit struct {
	// RequestsPerSecond is the rate at which the bucket drains.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	RequestsPerSecond int32 `json:"requestsPerSecond"`
	// Burst is the bucket's size: requests allowed at once.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Burst int32 `json:"burst"`
}

// DeletionPolicy says what happens to the remote object when the Kubernetes object is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes the remote object.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the remote object as it is.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// ManagementPolicy says whether the operator may write to the remote object.
// +kubebuilder:validation:Enum=Full;ObserveOnly
type ManagementPolicy string

const (
	// ManagementPolicyFull creates, updates and deletes the remote object.
	ManagementPolicyFull ManagementPolicy = "Full"
	// ManagementPolicyObserveOnly finds the remote object, reports it in status and whether it
	// matches the spec (condition Synced), and never writes to Bitrix24, not even on deletion.
	ManagementPolicyObserveOnly ManagementPolicy = "ObserveOnly"
)

// Adopt names an existing remote object to take over when its natural key is not enough.
type Adopt struct {
	// ID is the remote object's id.
	// +kubebuilder:validation:Minimum=1
	ID int64 `json:"id"`
}

// Color is a Bitrix24 color name.
// +kubebuilder:validation:Enum=RED;GREEN;MINT;LIGHT_BLUE;DARK_BLUE;PURPLE;AQUA;PINK;LIME;BROWN;AZURE;KHAKI;SAND;MARENGO;GRAY;GRAPHITE
type Color string

// CommonStatus is embedded in every kind's status.
type CommonStatus struct {
	// ObservedGeneration is the generation last fully applied. -1 until the first reconcile.
	// +kubebuilder:default=-1
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (always), Reconciling and Stalled (only while True).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastHandledReconcileAt is the last value of the b24ops.io/reconcile-requested-at
	// annotation the operator acted on.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}
