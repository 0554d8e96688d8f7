// Package reply tells the system that sent an external request
// (events.VolumeRequested) what became of it: the reply events
// (events.ReplyTypes) go to the Broker when there is one (REPLY_SINK), so
// that the sender follows its request with a Trigger on the requestid
// extension, and otherwise to the Service the request named (its replyTo,
// kept on the claim as annotations.ReplyTo).
//
// Replies carry no credentials: they leave cdi-functions, and a token of
// this system's audience in the hands of their receiver would let it speak
// as the component that replied.
package reply
