package uploadtoken_test

import (
	"fmt"
	"time"

	"github.com/cdi-functions/cdi-functions/pkg/uploadtoken"
)

// The token request handler signs; the upload proxy verifies and checks
// that the token opens the claim it is asked to fill.
func Example() {
	data, err := uploadtoken.NewSecretData() // stored once in the keys Secret
	if err != nil {
		panic(err)
	}
	keys, err := uploadtoken.ParseKeys(data)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	token, err := keys.Sign(uploadtoken.Scope{Operation: uploadtoken.OperationUpload, Namespace: "vms", Name: "disk", UID: "0b6c9d2e"}, now)
	if err != nil {
		panic(err)
	}

	scope, err := keys.Verify(token, now.Add(time.Minute))
	fmt.Println(scope, err, scope.Allows(uploadtoken.OperationUpload, "vms", "disk", "0b6c9d2e"))

	_, err = keys.Verify(token, now.Add(10*time.Minute))
	fmt.Println(err)
	// Output:
	// upload into vms/disk <nil> true
	// invalid upload token: upload token expired
}
