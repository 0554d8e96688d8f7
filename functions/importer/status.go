package main

import "github.com/cdi-functions/cdi-functions/pkg/refusal"

// statusSender tells the updater (through the same sink the data pods
// use) about a request the importer refused or that waits, so that the
// claim's status says so (pkg/refusal).
type statusSender = refusal.Sender
