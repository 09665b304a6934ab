// What this library's API is written in, so `import TitanClient` is all a user writes.
//
// The protocol model (JobSpec, DagSpec, JobInfo, ServiceSpec, ...) is this API's vocabulary:
// the whole module is re-exported, as swift-nio's umbrella module re-exports NIOCore. From
// modules that are not the client's concern, only the types its signatures take are, as
// Hummingbird does with the NIO and HTTPTypes types in its API: the loop a client may share,
// a token, a TLS context.
@_exported import TitanProtocol
@_exported @_documentation(visibility: internal) import class TitanLoop.EventLoop
@_exported @_documentation(visibility: internal) import struct TitanAuth.AuthToken
@_exported @_documentation(visibility: internal) import class TitanTLS.TLSContext
