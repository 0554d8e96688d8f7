package tus

// Version is the protocol version served.
const Version = "1.0.0"

// Header names.
const (
	HeaderResumable         = "Tus-Resumable"
	HeaderVersion           = "Tus-Version"
	HeaderExtension         = "Tus-Extension"
	HeaderMaxSize           = "Tus-Max-Size"
	HeaderChecksumAlgorithm = "Tus-Checksum-Algorithm"
	HeaderOffset            = "Upload-Offset"
	HeaderLength            = "Upload-Length"
	HeaderMetadata          = "Upload-Metadata"
	HeaderChecksum          = "Upload-Checksum"
	HeaderDeferLength       = "Upload-Defer-Length"
	// HeaderState is this system's own: what the upload pod does with a
	// complete upload (StateReceiving, StateProcessing, StateSucceeded,
	// StateFailed), on HEAD and PATCH answers.
	HeaderState = "X-Cdi-Upload-State"
)

// Extensions is the Tus-Extension value served.
const Extensions = "creation,checksum"

// ContentType is the media type of a PATCH body.
const ContentType = "application/offset+octet-stream"

// StatusChecksumMismatch is the checksum extension's answer to a PATCH
// whose body does not match its Upload-Checksum.
const StatusChecksumMismatch = 460

// Upload states (HeaderState).
const (
	StateReceiving  = "receiving"
	StateProcessing = "processing"
	StateSucceeded  = "succeeded"
	StateFailed     = "failed"
)

// RequestHeaders are the headers a proxy passes from the client to the
// upload pod; ResponseHeaders those it passes back (Location is rewritten,
// not passed).
var (
	RequestHeaders  = []string{HeaderResumable, HeaderOffset, HeaderLength, HeaderMetadata, HeaderChecksum, HeaderDeferLength, "Content-Type"}
	ResponseHeaders = []string{HeaderResumable, HeaderVersion, HeaderExtension, HeaderMaxSize, HeaderChecksumAlgorithm,
		HeaderOffset, HeaderLength, HeaderMetadata, HeaderState, "Cache-Control", "Retry-After"}
)
