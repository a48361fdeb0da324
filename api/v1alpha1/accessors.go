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

func policy(p *DeletionPolicy) DeletionPolicy {
	if p == nil {
		return DeletionPolicyDelete
	}
	return *p
}

// EffectiveDeletionPolicy is spec.deletionPolicy or its default, Delete.
func (o *ChatBot) EffectiveDeletionPolicy() DeletionPolicy { return policy(o.Spec.DeletionPolicy) }

// EffectiveDeletionPolicy is spec.deletionPolicy or its default, Delete.
func (o *ChatApp) EffectiveDeletionPolicy() DeletionPolicy { return policy(o.Spec.DeletionPolicy) }

// EffectiveDeletionPolicy is spec.deletionPolicy or its default, Delete.
func (o *Chat) EffectiveDeletionPolicy() DeletionPolicy { return policy(o.Spec.DeletionPolicy) }
