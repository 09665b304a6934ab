import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// The settings every TLS connection of one kind shares: this end's certificate and key, the CA
/// it checks peers against, whether it asks peers for a certificate. Loaded and checked once, at
/// start, so a bad file is an error there rather than on the first connection.
///
/// Wraps an OpenSSL `SSL_CTX`. Sendable because it is never changed after `init` and OpenSSL
/// allows a configured `SSL_CTX` to create connections from any thread.
public final class TLSContext: @unchecked Sendable {
    private let handle: ContextHandle
    var context: OpaquePointer { handle.context }
    /// A server that checks client certificates (a CA was given).
    public let verifiesClients: Bool
    public let isServer: Bool
    /// When this end's own certificate stops being valid (seconds since 1970), if it has one.
    public let certificateNotAfter: Int64?

    private init(handle: ContextHandle, isServer: Bool, verifiesClients: Bool, notAfter: Int64?) {
        self.handle = handle
        self.isServer = isServer
        self.verifiesClients = verifiesClients
        certificateNotAfter = notAfter
    }

    /// A server's context: its certificate chain and key (PEM files); with `clientCAFile`, clients
    /// are asked for a certificate and one that is presented must be signed by that CA.
    public static func server(certificateFile: String, privateKeyFile: String,
                              clientCAFile: String? = nil) throws(TLSError) -> TLSContext {
        try server(certificateFile: certificateFile, privateKeyFile: privateKeyFile, clientCAFile: clientCAFile, checkDates: true)
    }

    /// `checkDates` false loads a certificate that is expired or not yet valid: only tests do, to
    /// see what the other end says about one.
    static func server(certificateFile: String, privateKeyFile: String, clientCAFile: String?,
                       checkDates: Bool) throws(TLSError) -> TLSContext {
        let handle = try ContextHandle(TLS_server_method())
        let ctx = handle.context
        let notAfter = try loadIdentity(ctx, certificateFile: certificateFile, privateKeyFile: privateKeyFile, checkDates: checkDates)
        if let clientCAFile {
            try loadTrust(ctx, caFile: clientCAFile)
            // The CA's name goes in the certificate request, so a client knows which one to send.
            if let names = SSL_load_client_CA_file(clientCAFile) { SSL_CTX_set_client_CA_list(ctx, names) }
            titan_ssl_ctx_verify_peer(ctx)
        }
        return TLSContext(handle: handle, isServer: true, verifiesClients: clientCAFile != nil, notAfter: notAfter)
    }

    /// A client's context: peers are checked against `caFile` (or the system's CAs when nil);
    /// with a certificate and key, it can prove who it is to a server that asks.
    public static func client(caFile: String?, certificateFile: String? = nil,
                              privateKeyFile: String? = nil) throws(TLSError) -> TLSContext {
        try client(caFile: caFile, certificateFile: certificateFile, privateKeyFile: privateKeyFile, checkDates: true)
    }

    static func client(caFile: String?, certificateFile: String?, privateKeyFile: String?,
                       checkDates: Bool) throws(TLSError) -> TLSContext {
        let handle = try ContextHandle(TLS_client_method())
        let ctx = handle.context
        var notAfter: Int64?
        switch (certificateFile, privateKeyFile) {
        case (let cert?, let key?):
            notAfter = try loadIdentity(ctx, certificateFile: cert, privateKeyFile: key, checkDates: checkDates)
        case (nil, nil):
            break
        default:
            throw .configuration("TLS: a certificate needs its key: give both --tls-cert and --tls-key")
        }
        if let caFile {
            try loadTrust(ctx, caFile: caFile)
        } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            throw .configuration("TLS: \(lastError("cannot load the system's CA certificates"))")
        }
        titan_ssl_ctx_verify_peer(ctx)
        return TLSContext(handle: handle, isServer: false, verifiesClients: false, notAfter: notAfter)
    }

    /// Loads this end's certificate chain and key and checks they belong together and that the
    /// certificate is valid now. Returns when it expires.
    private static func loadIdentity(_ ctx: OpaquePointer, certificateFile: String, privateKeyFile: String,
                                     checkDates: Bool) throws(TLSError) -> Int64? {
        try readable(certificateFile, what: "certificate")
        try readable(privateKeyFile, what: "key")
        ERR_clear_error()
        guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1 else {
            throw .configuration("TLS certificate \(certificateFile): \(lastError("not a PEM certificate"))")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
            let reason = lastError("not a PEM private key")
            if reason == "key values mismatch" {
                throw .configuration("TLS: the key \(privateKeyFile) does not belong to the certificate \(certificateFile)")
            }
            throw .configuration("TLS key \(privateKeyFile): \(reason)")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            ERR_clear_error()
            throw .configuration("TLS: the key \(privateKeyFile) does not belong to the certificate \(certificateFile)")
        }
        guard let cert = SSL_CTX_get0_certificate(ctx) else { return nil }
        let validity = Validity(cert)
        guard checkDates else { return validity.notAfter }
        if let notBefore = validity.notBefore, notBefore > Validity.now {
            throw .configuration("TLS certificate \(certificateFile) is not valid before \(Validity.format(notBefore))")
        }
        if let notAfter = validity.notAfter, notAfter < Validity.now {
            throw .configuration("TLS certificate \(certificateFile) expired on \(Validity.format(notAfter)); renew it (titan certs issue)")
        }
        return validity.notAfter
    }

    private static func loadTrust(_ ctx: OpaquePointer, caFile: String) throws(TLSError) {
        try readable(caFile, what: "CA certificate")
        ERR_clear_error()
        guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
            throw .configuration("TLS CA certificate \(caFile): \(lastError("not a PEM certificate"))")
        }
    }

    /// A missing or unreadable file is named with the system's reason, before OpenSSL's less
    /// helpful "system lib".
    private static func readable(_ path: String, what: String) throws(TLSError) {
        guard let file = fopen(path, "r") else {
            throw .configuration("TLS \(what) \(path): \(String(cString: strerror(errno)))")
        }
        fclose(file)
    }

    /// OpenSSL's reason for the last failure on this thread, or `fallback`.
    static func lastError(_ fallback: String) -> String {
        let code = ERR_peek_last_error()
        ERR_clear_error()
        guard code != 0, let reason = titan_err_reason(code) else { return fallback }
        return String(cString: reason)
    }
}

/// Owns an `SSL_CTX`: freed when the last connection made from it is gone.
private final class ContextHandle {
    let context: OpaquePointer

    init(_ method: OpaquePointer?) throws(TLSError) {
        guard let ctx = SSL_CTX_new(method) else { throw .configuration("TLS: \(TLSContext.lastError("cannot create a context"))") }
        context = ctx
        guard titan_ssl_ctx_configure(ctx) == 1 else {
            SSL_CTX_free(ctx)
            throw .configuration("TLS: \(TLSContext.lastError("cannot configure the context"))")
        }
    }

    deinit {
        SSL_CTX_free(context)
    }
}

/// A certificate's validity period, in seconds since 1970.
struct Validity {
    var notBefore: Int64?
    var notAfter: Int64?

    init(_ cert: OpaquePointer) {
        notBefore = Self.seconds(X509_get0_notBefore(cert))
        notAfter = Self.seconds(X509_get0_notAfter(cert))
    }

    static var now: Int64 { Int64(time(nil)) }

    private static func seconds(_ asn1: UnsafePointer<ASN1_TIME>?) -> Int64? {
        guard let asn1 else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(asn1, &parts) == 1 else { return nil }
        return Int64(timegm(&parts))
    }

    /// `2026-12-06 17:44:28 UTC`.
    static func format(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }
}
