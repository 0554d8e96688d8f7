package provision

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// resync bounds how long a missed event can delay a volume.
const resync = 10 * time.Second

// Controller provisions and removes the volumes of Config.
type Controller struct {
	cfg     Config
	client  kubernetes.Interface
	backing Backing
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	kick    chan struct{}
	synced  []cache.InformerSynced
}

// New wires a Controller to the informers of factory; call factory.Start
// and then Run.
func New(cfg Config, client kubernetes.Interface, factory informers.SharedInformerFactory, backing Backing) *Controller {
	c := &Controller{cfg: cfg, client: client, backing: backing, kick: make(chan struct{}, 1)}
	pvc := factory.Core().V1().PersistentVolumeClaims()
	pv := factory.Core().V1().PersistentVolumes()
	c.claims, c.volumes = pvc.Lister(), pv.Lister()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.wake() },
		UpdateFunc: func(any, any) { c.wake() },
		DeleteFunc: func(any) { c.wake() },
	}
	_, _ = pvc.Informer().AddEventHandler(h)
	_, _ = pv.Informer().AddEventHandler(h)
	c.synced = []cache.InformerSynced{pvc.Informer().HasSynced, pv.Informer().HasSynced}
	return c
}

// wake asks for a pass without blocking; passes coalesce.
func (c *Controller) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run makes passes over every claim and volume, on each change and every
// resync, until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("informers did not sync: %w", ctx.Err())
	}
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		if err := c.Pass(ctx); err != nil {
			log.Printf("provision: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-t.C:
		}
	}
}

// Pass provisions every waiting claim and removes every released volume.
func (c *Controller) Pass(ctx context.Context) error {
	var errs []error
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list claims: %w", err)
	}
	for _, claim := range claims {
		if !c.cfg.Wants(claim) {
			continue
		}
		if _, err := c.volumes.Get(VolumeName(claim)); err == nil {
			continue // created; the PV controller binds it
		}
		if err := c.provision(ctx, claim); err != nil {
			errs = append(errs, fmt.Errorf("claim %s/%s: %w", claim.Namespace, claim.Name, err))
		}
	}
	pvs, err := c.volumes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	for _, pv := range pvs {
		if !c.cfg.Releasable(pv) {
			continue
		}
		if err := c.release(ctx, pv); err != nil {
			errs = append(errs, fmt.Errorf("volume %s: %w", pv.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	path := c.cfg.BackingPath(claim)
	if IsBlock(claim) {
		size, err := Size(claim)
		if err != nil {
			return err
		}
		if path, err = c.backing.Device(ctx, path, size.Value()); err != nil {
			return err
		}
	} else if err := c.backing.Directory(ctx, path); err != nil {
		return err
	}
	pv, err := c.cfg.Volume(claim, path)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create volume: %w", err)
	}
	log.Printf("provisioned %s for %s/%s at %s", pv.Name, claim.Namespace, claim.Name, path)
	return nil
}

func (c *Controller) release(ctx context.Context, pv *corev1.PersistentVolume) error {
	path := pv.Annotations[AnnBackingFile]
	if path == "" && pv.Spec.Local != nil {
		path = pv.Spec.Local.Path
	}
	if path != "" {
		if err := c.backing.Remove(ctx, path); err != nil {
			return err
		}
	}
	err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pv.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete volume: %w", err)
	}
	log.Printf("removed %s (%s)", pv.Name, path)
	return nil
}
