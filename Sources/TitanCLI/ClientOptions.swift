import ArgumentParser
import Foundation
import TitanArtifacts
import TitanAuth
import TitanClient
import TitanTLS

/// Options every client command takes.
struct ClientOptions: ParsableArguments {
    @Option(help: "Master address HOST:PORT (default $TITAN_MASTER or 127.0.0.1:9090).")
    var master: String?

    @Option(help: "Token text (titan.ID.SECRET); default $TITAN_TOKEN, $TITAN_TOKEN_FILE, else ~/.config/titan/token.")
    var token: String?

    @Option(name: .customLong("token-file"), help: "A file holding the token.")
    var tokenFile: String?

    @Option(name: .customLong("tls-ca"), help: "Talk to the master over TLS, checking its certificate against this CA (PEM); default $TITAN_TLS_CA.")
    var tlsCA: String?

    @Option(name: .customLong("tls-cert"), help: "A certificate to present over TLS (default $TITAN_TLS_CERT); only a master that checks clients needs one.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "The private key of --tls-cert (default $TITAN_TLS_KEY).")
    var tlsKey: String?

    @Option(name: .customLong("tls-server-name"), help: "The name the master's certificate must be for (default: the host in --master; $TITAN_TLS_SERVER_NAME).")
    var tlsServerName: String?

    @Option(name: .customLong("request-timeout"),
            help: "Seconds to wait for the master to answer each request (default $TITAN_REQUEST_TIMEOUT, else 60); connecting and the handshake wait at most that, and at most 10.")
    var requestTimeout: String?

    var address: String {
        master ?? ProcessInfo.processInfo.environment["TITAN_MASTER"] ?? "127.0.0.1:9090"
    }

    func validate() throws {
        do {
            _ = try TitanClient.parseAddress(address)
        } catch {
            throw ValidationError("--master: \(error)")
        }
        for (flag, value) in [("--tls-ca", tlsCA), ("--tls-cert", tlsCert), ("--tls-key", tlsKey), ("--tls-server-name", tlsServerName)] {
            if let value, value.isEmpty { throw ValidationError("\(flag): empty") }
        }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCA == nil && (tlsCert != nil || tlsServerName != nil) {
            throw ValidationError("--tls-cert and --tls-server-name need --tls-ca (the CA that signed the master's certificate)")
        }
        if let requestTimeout {
            do {
                _ = try Timeouts.parse(seconds: requestTimeout, source: "--request-timeout")
            } catch {
                throw ValidationError(error.description)
            }
        }
    }

    /// `--request-timeout`, else `TITAN_REQUEST_TIMEOUT`, else the defaults.
    func timeouts() throws -> Timeouts {
        do {
            if let requestTimeout { return try Timeouts.parse(seconds: requestTimeout, source: "--request-timeout") }
            return try Timeouts.fromEnvironment(ProcessInfo.processInfo.environment)
        } catch {
            throw CLIError(message: error.description)
        }
    }

    /// The flags, else the environment (`TITAN_TLS_*`), else plaintext.
    func transport() throws -> TitanClient.Transport {
        var environment = ProcessInfo.processInfo.environment
        if let tlsCA {
            environment["TITAN_TLS_CA"] = tlsCA
            environment["TITAN_TLS_CERT"] = tlsCert
            environment["TITAN_TLS_KEY"] = tlsKey
            environment["TITAN_TLS_SERVER_NAME"] = tlsServerName
        }
        do {
            return try TitanClient.Transport.fromEnvironment(environment)
        } catch {
            throw CLIError(message: error.description)
        }
    }

    func connect() async throws -> TitanClient {
        let credential: AuthToken?
        do {
            credential = try TokenSource.find(token: token, tokenFile: tokenFile)
        } catch {
            throw CLIError(message: "\(error)")
        }
        do {
            return try await TitanClient.connect(to: address, credentials: credential.map { .token($0) } ?? .none,
                                                 transport: try transport(), timeouts: try timeouts())
        } catch {
            throw CLIError(message: "\(error)")
        }
    }
}

/// Options of the commands that list recent things (jobs, DAGs).
struct ListOptions: ParsableArguments {
    @Option(help: "How many (default 20).")
    var limit: UInt32 = 20

    @Flag(help: "Print JSON.")
    var json = false
}

/// An error shown as `titan: message` with exit status 1 (or `code`).
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var code: Int32 = 1
    var description: String { message }
}

/// Runs `body` with a connected client, closes it, and turns client errors into CLI errors.
func withClient<T>(_ options: ClientOptions, _ body: (TitanClient) async throws -> T) async throws -> T {
    let client = try await options.connect()
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch let error as TitanClientError {
        await client.close()
        throw CLIError(message: error.description)
    } catch let error as ArtifactError {
        await client.close()
        throw CLIError(message: error.message)
    } catch {
        await client.close()
        throw error
    }
}
