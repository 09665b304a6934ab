extension CertificateAuthority {
    /// Loads a CA from its two files; every error names the file it is about
    /// (``CertificateError/inFile(path:error:)``).
    public static func load(certificatePath: String, keyPath: String) throws(CertificateError) -> CertificateAuthority {
        let certificatePEM = try CertificateFiles.read(certificatePath)
        let keyPEM = try CertificateFiles.read(keyPath)
        do {
            return try CertificateAuthority(certificatePEM: certificatePEM, privateKeyPEM: keyPEM)
        } catch {
            var aboutKey = error == .keyDoesNotMatchCertificate
            if case .unreadablePEM(let which, _) = error, which == keyInput { aboutKey = true }
            throw .inFile(path: aboutKey ? keyPath : certificatePath, error: error)
        }
    }

    /// Writes the CA's certificate (0644) and key (0600) with ``CertificateFiles/write``.
    public func write(certificatePath: String, keyPath: String, overwrite: Bool = false) throws(CertificateError) {
        try CertificateFiles.write(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM,
                                   certificatePath: certificatePath, keyPath: keyPath, overwrite: overwrite)
    }
}

extension IssuedCertificate {
    /// Writes the certificate (0644) and key (0600) with ``CertificateFiles/write``.
    public func write(certificatePath: String, keyPath: String, overwrite: Bool = false) throws(CertificateError) {
        try CertificateFiles.write(certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM,
                                   certificatePath: certificatePath, keyPath: keyPath, overwrite: overwrite)
    }
}
