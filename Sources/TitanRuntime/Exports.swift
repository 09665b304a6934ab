// What this library's API is written in, so `import TitanRuntime` is all a user writes.
//
// The master and worker modules (their configurations and nodes) and the protocol model their
// APIs take (JobSpec, DagSpec, ...) are re-exported whole; from the modules underneath, only the
// types their configurations and signatures name (see TitanClient's Exports.swift for why).
@_exported import TitanMaster
@_exported import TitanWorker
@_exported import TitanProtocol
@_exported @_documentation(visibility: internal) import class TitanLoop.EventLoop
@_exported @_documentation(visibility: internal) import struct TitanAuth.AuthToken
@_exported @_documentation(visibility: internal) import class TitanTLS.TLSContext
@_exported @_documentation(visibility: internal) import enum TitanStore.FsyncPolicy
@_exported @_documentation(visibility: internal) import struct TitanPolicy.Backoff
