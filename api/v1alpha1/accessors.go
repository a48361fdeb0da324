package v1alpha1

// Accessors let the operator's one reconcile loop handle every kind alike.

// CommonStatus returns the status part every kind shares.
func (o *Portal) CommonStatus() *CommonStatus { return &o.Status.CommonStatus }

// CommonStatus returns the status part every kind shares.
func (o *ChatBot) CommonStatus() *CommonStatus { return &o.Status.CommonStatus }

// CommonStatus returns the status part every kind shares.
func (o *ChatApp) CommonStatus() *CommonStatus { return &o.Status.CommonStatus }

// CommonStatus returns the status part every kind shares.
func (o *Chat) CommonStatus() *CommonStatus { return &o.Status.CommonStatus }

// CommonStatus returns the status part every kind shares.
func (o *Metabot) CommonStatus() *CommonStatus { return &o.Status.CommonStatus }

// CommonStatus returns the status part every kind shares.
func (o *ScheduledJob) CommonStatus() *CommonStatus { return &o.Status.CommonStatus }

// SpecDeletionPolicy is spec.deletionPolicy; nil means the default applies.
func (o *ChatBot) SpecDeletionPolicy() *DeletionPolicy { return o.Spec.DeletionPolicy }

// SetEffectiveDeletionPolicy records the deletion policy in effect in status.
func (o *ChatBot) SetEffectiveDeletionPolicy(p DeletionPolicy) { o.Status.DeletionPolicy = p }

// SpecDeletionPolicy is spec.deletionPolicy; nil means the default applies.
func (o *ChatApp) SpecDeletionPolicy() *DeletionPolicy { return o.Spec.DeletionPolicy }

// SetEffectiveDeletionPolicy records the deletion policy in effect in status.
func (o *ChatApp) SetEffectiveDeletionPolicy(p DeletionPolicy) { o.Status.DeletionPolicy = p }

// SpecDeletionPolicy is spec.deletionPolicy; nil means the default applies.
func (o *Chat) SpecDeletionPolicy() *DeletionPolicy { return o.Spec.DeletionPolicy }

// SetEffectiveDeletionPolicy records the deletion policy in effect in status.
func (o *Chat) SetEffectiveDeletionPolicy(p DeletionPolicy) { o.Status.DeletionPolicy = p }

// ObserveOnly says spec.managementPolicy is ObserveOnly.
func (o *ChatBot) ObserveOnly() bool { return observeOnly(o.Spec.ManagementPolicy) }

// ObserveOnly says spec.managementPolicy is ObserveOnly.
func (o *ChatApp) ObserveOnly() bool { return observeOnly(o.Spec.ManagementPolicy) }

// ObserveOnly says spec.managementPolicy is ObserveOnly.
func (o *Chat) ObserveOnly() bool { return observeOnly(o.Spec.ManagementPolicy) }

func observeOnly(p *ManagementPolicy) bool { return p != nil && *p == ManagementPolicyObserveOnly }

// CommonStatus returns the status part every kind shares.
func (o *BotCommand) CommonStatus() *CommonStatus { return &o.Status.CommonStatus }

// SpecDeletionPolicy is spec.deletionPolicy; nil means the default applies.
func (o *BotCommand) SpecDeletionPolicy() *DeletionPolicy { return o.Spec.DeletionPolicy }

// SetEffectiveDeletionPolicy records the deletion policy in effect in status.
func (o *BotCommand) SetEffectiveDeletionPolicy(p DeletionPolicy) { o.Status.DeletionPolicy = p }

// ObserveOnly says spec.managementPolicy is ObserveOnly.
func (o *BotCommand) ObserveOnly() bool { return observeOnly(o.Spec.ManagementPolicy) }
