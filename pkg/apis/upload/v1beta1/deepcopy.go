package v1beta1

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// DeepCopyInto copies r into out.
func (r *UploadTokenRequest) DeepCopyInto(out *UploadTokenRequest) {
	*out = *r
	out.TypeMeta = r.TypeMeta
	r.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec = r.Spec
	out.Status = r.Status
}

// DeepCopy returns a copy of r.
func (r *UploadTokenRequest) DeepCopy() *UploadTokenRequest {
	if r == nil {
		return nil
	}
	out := new(UploadTokenRequest)
	r.DeepCopyInto(out)
	return out
}

// DeepCopyObject returns a copy of r as a runtime.Object.
func (r *UploadTokenRequest) DeepCopyObject() runtime.Object {
	if c := r.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies l into out.
func (l *UploadTokenRequestList) DeepCopyInto(out *UploadTokenRequestList) {
	*out = *l
	out.TypeMeta = l.TypeMeta
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]UploadTokenRequest, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of l.
func (l *UploadTokenRequestList) DeepCopy() *UploadTokenRequestList {
	if l == nil {
		return nil
	}
	out := new(UploadTokenRequestList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject returns a copy of l as a runtime.Object.
func (l *UploadTokenRequestList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}
