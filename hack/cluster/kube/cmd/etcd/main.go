// Command etcd is etcd v3.6.5's server, built from the module proxy (the etcd
// repository publishes no buildable main in a module).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
