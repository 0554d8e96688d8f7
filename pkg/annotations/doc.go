// Package annotations names every annotation cdi-functions reads or writes
// on a PersistentVolumeClaim, and reads a claim's request and status from
// them. The names are CDI's: the 2018 CDI contract keeps working as written.
package annotations
