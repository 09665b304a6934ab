import ArgumentParser
import Foundation
import TitanArtifacts
import TitanAuth
import TitanClient

/// Options every client command takes.
struct ClientOptions: ParsableArguments {
    @Option(help: "Master address HOST:PORT (default $TITAN_MASTER or 127.0.0.1:9090).")
    var master: String?

    @Option(help: "Token text (titan.ID.SECRET); default $TITAN_TOKEN, $TITAN_TOKEN_FILE, else ~/.config/titan/token.")
    var token: String?

    @Option(name: .customLong("token-file"), help: "A file holding the token.")
    var tokenFile: String?

    var address: String {
        master ?? ProcessInfo.processInfo.environment["TITAN_MASTER"] ?? "127.0.0.1:9090"
    }

    func validate() throws {
        do {
            _ = try TitanClient.parseAddress(address)
        } catch {
            throw ValidationError("--master: \(error)")
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
            return try await TitanClient.connect(to: address, credentials: credential.map { .token($0) } ?? .none)
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
