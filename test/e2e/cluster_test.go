//go:build e2e

package e2e

import (
	"testing"
)

// TestCluster runs the acceptance tests of the cluster side by side, then
// the import scenarios on cdi-functions deployed with ko, then the upload
// scenarios, then the clone scenarios, then checks that no traffic left
// the cluster while they ran.
func TestCluster(t *testing.T) {
	if knativeProfile() {
		t.Skipf("%s=knative: TestKnative runs the suites through the Broker", envProfile)
	}
	t.Run("workloads", func(t *testing.T) {
		t.Run("OneReadyNodeAtV1.35.4", testNodeReady)
		t.Run("PVCBindsAndPodsShareData", testPVCSharedBetweenPods)
		t.Run("PodReachesServiceByDNSName", testServiceByDNSName)
		t.Run("OutsideNamesAreNotResolved", testOutsideNamesNotResolved)
		t.Run("NamespaceDeletionCompletes", testNamespaceDeletion)
		t.Run("OwnedPodIsGarbageCollected", testGarbageCollection)
		t.Run("KoApplyDeploysFromThisRepository", testKoApply)
		t.Run("MirroredRegistryNamesStayLocal", testMirroredRegistryNames)
	})
	t.Run("imports", testImports)
	t.Run("uploads", testUploads)
	t.Run("clones", testClones)
	t.Run("NoTrafficLeftTheCluster", testNoTrafficLeftTheCluster)
}
