import Dispatch
import TitanArtifacts
import TitanLoop
import TitanProtocol

/// Uploads from clients and fetches from workers. The disk work (writing, hashing, reading)
/// runs on one serial queue, never the loop: chunks of an upload stay in order, and each reply
/// goes out from the loop when its chunk is done, which paces the uploader.
final class ArtifactService: Sendable {
    let store: ArtifactStore
    private let queue = DispatchQueue(label: "titan.artifacts", qos: .utility)

    init(store: ArtifactStore) {
        self.store = store
    }

    /// Runs `work` on the artifact queue, then `reply` with its result on the loop.
    func run<T: Sendable>(on loop: EventLoop, _ work: @escaping @Sendable () throws(ArtifactError) -> T,
                          reply: @escaping @Sendable (Result<T, ArtifactError>) -> Void) {
        queue.async {
            let result = Result { () throws(ArtifactError) in try work() }
            loop.execute { reply(result) }
        }
    }

    func abandonUploads(peer: UInt64) {
        queue.async { [store] in store.abandonUploads(peer: peer) }
    }
}

extension SchedulerActor {
    func handleArtifact(_ message: Message, from peer: any Peer, requestId rid: UInt32) {
        guard let artifacts else {
            peer.reply(rid, .error(.unavailable, "this master has no data directory, so it stores no artifacts"))
            return
        }
        let store = artifacts.store
        switch message {
        case .uploadArtifact(let chunk):
            let key = ArtifactStore.UploadKey(peer: Self.peerKey(peer), uploadId: chunk.uploadId)
            artifacts.run(on: eventLoop, { () throws(ArtifactError) in try store.receive(chunk, key: key) }) { result in
                switch result {
                case .success(let info?): peer.reply(rid, .artifactStored(info))
                case .success(nil): peer.reply(rid, .ok)
                case .failure(let error): peer.reply(rid, .error(Self.code(of: error), error.message))
                }
            }
        case .fetchArtifact(let range):
            artifacts.run(on: eventLoop, { () throws(ArtifactError) in try store.read(range) }) { result in
                switch result {
                case .success(let data): peer.reply(rid, .artifactData(data))
                case .failure(let error): peer.reply(rid, .error(Self.code(of: error), error.message))
                }
            }
        case .getArtifact(let name):
            if let info = store.info(named: name) {
                peer.reply(rid, .artifactStored(info))
            } else {
                peer.reply(rid, .error(.notFound, "no artifact named '\(name)'"))
            }
        default:
            break
        }
    }

    /// What is wrong with the artifacts a job needs, or nil: each must be stored here.
    func artifactProblem(_ spec: JobSpec) -> String? {
        guard !spec.artifacts.isEmpty else { return nil }
        guard let artifacts else { return "field 'artifacts': this master has no data directory, so it stores no artifacts" }
        for (i, ref) in spec.artifacts.enumerated() where !artifacts.store.contains(hash: ref.hash) {
            return "field 'artifacts[\(i)]': no artifact with hash \(ref.hash) was uploaded to this master"
        }
        return nil
    }

    static func peerKey(_ peer: any Peer) -> UInt64 {
        UInt64(UInt(bitPattern: ObjectIdentifier(peer).hashValue))
    }

    private static func code(of error: ArtifactError) -> ErrorCode {
        switch error.kind {
        case .notFound: .notFound
        case .invalid: .invalidRequest
        case .corrupt, .io: .internalError
        }
    }
}
