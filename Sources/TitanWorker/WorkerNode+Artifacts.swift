import Dispatch
import Synchronization
import TitanArtifacts
import TitanProtocol

/// Artifact downloads in progress, by content hash: one per hash however many jobs wait for it.
/// Loop only.
struct ArtifactFetches {
    struct Fetch {
        /// Size announced by the job's reference; the master's `total` must agree.
        var size: UInt64
        /// The download, when not handed to the disk queue for a write.
        var download: ArtifactCache.Download?
        var writing = false
        /// The chunk request in flight (0: none, e.g. while disconnected).
        var requestId: UInt32 = 0
        var waiters: [(Result<Void, ArtifactError>) -> Void] = []
    }

    var byHash: [String: Fetch] = [:]
    var requests: [UInt32: String] = [:]
    private var nextRequestId: UInt32 = 0
    /// Preparations waiting for their disk work, by token.
    var preparations: [UInt64: (Result<Void, ArtifactError>) -> Void] = [:]
    var nextPreparation: UInt64 = 0

    func hash(forRequest id: UInt32) -> String? { requests[id] }

    mutating func newRequestId() -> UInt32 {
        nextRequestId = nextRequestId == UInt32.max ? 1 : nextRequestId + 1
        return nextRequestId
    }
}

/// Which (directory, artifact, destination) triples this worker process has put in place, so
/// that jobs of one DAG sharing a directory extract its project once, not over each other.
final class MaterializedArtifacts: Sendable {
    private let done = Mutex<Set<String>>([])

    func contains(_ key: String) -> Bool { done.withLock { $0.contains(key) } }

    func insert(_ key: String) {
        done.withLock { set in
            if set.count >= 100_000 { set.removeAll() }  // bounded; the worst case is one re-extraction
            set.insert(key)
        }
    }
}

extension WorkerNode {
    /// Bytes asked of the master per request: big enough to stream, small enough not to hold
    /// up dispatches behind it on the connection.
    static let fetchChunkBytes: UInt32 = 1 << 20

    /// Gets every artifact into the cache (fetching what is missing), then puts them in place in
    /// `directory`, in order; calls `done` on the loop.
    func prepareArtifacts(_ refs: [ArtifactRef], in directory: String,
                          done: @escaping (Result<Void, ArtifactError>) -> Void) {
        var seen = Set<String>()
        let unique = refs.filter { seen.insert($0.hash).inserted }
        cacheAll(unique[...]) { [self] result in
            if case .failure = result { return done(result) }
            materialize(refs, in: directory, done: done)
        }
    }

    /// One after the other: jobs rarely need more than one or two.
    private func cacheAll(_ refs: ArraySlice<ArtifactRef>, done: @escaping (Result<Void, ArtifactError>) -> Void) {
        guard let first = refs.first else { return done(.success(())) }
        ensureCached(first) { [self] result in
            if case .failure = result { return done(result) }
            cacheAll(refs.dropFirst(), done: done)
        }
    }

    private func materialize(_ refs: [ArtifactRef], in directory: String,
                             done: @escaping (Result<Void, ArtifactError>) -> Void) {
        guard let cache = artifactCache else { return }
        let token = fetches.nextPreparation
        fetches.nextPreparation += 1
        fetches.preparations[token] = done
        let materialized = materializedArtifacts
        artifactQueue.async { [self] in
            let result = Result { () throws(ArtifactError) in
                for ref in refs {
                    let key = directory + "\0" + ref.hash + "\0" + ref.destination
                    if materialized.contains(key) { continue }
                    try cache.materialize(ref, into: directory)
                    materialized.insert(key)
                }
            }
            eventLoop.execute { self.assumeIsolated { $0.fetches.preparations.removeValue(forKey: token)?(result) } }
        }
    }

    private func ensureCached(_ ref: ArtifactRef, done: @escaping (Result<Void, ArtifactError>) -> Void) {
        if fetches.byHash[ref.hash] != nil {
            fetches.byHash[ref.hash]!.waiters.append(done)
            return
        }
        guard let cache = artifactCache else { return }
        fetches.byHash[ref.hash] = ArtifactFetches.Fetch(size: ref.size, writing: true, waiters: [done])
        let hash = ref.hash
        artifactQueue.async { [self] in
            let result = Result { () throws(ArtifactError) -> ArtifactCache.Download? in
                cache.contains(hash: hash) ? nil : try cache.beginDownload(hash: hash)
            }
            eventLoop.execute { self.assumeIsolated { $0.fetchStarted(hash, result) } }
        }
    }

    private func fetchStarted(_ hash: String, _ result: Result<ArtifactCache.Download?, ArtifactError>) {
        switch result {
        case .success(nil):
            finishFetch(hash, .success(()))
        case .success(let download?):
            fetches.byHash[hash]?.download = download
            fetches.byHash[hash]?.writing = false
            requestChunk(hash)
        case .failure(let error):
            finishFetch(hash, .failure(error))
        }
    }

    private func requestChunk(_ hash: String) {
        guard let fetch = fetches.byHash[hash], let download = fetch.download, !fetch.writing,
              fetch.requestId == 0, isRegistered else { return }
        let id = fetches.newRequestId()
        fetches.requests[id] = hash
        fetches.byHash[hash]!.requestId = id
        send(.fetchArtifact(ArtifactRange(hash: hash, offset: download.received, length: Self.fetchChunkBytes)), requestId: id)
    }

    /// The master answered a chunk request.
    func fetchReplied(_ envelope: Envelope) {
        guard let hash = fetches.requests.removeValue(forKey: envelope.requestId),
              var fetch = fetches.byHash[hash], let download = fetch.download else { return }
        fetch.requestId = 0
        switch envelope.message {
        case .artifactData(let data):
            guard data.offset == download.received, data.total == fetch.size,
                  !data.bytes.isEmpty || data.offset == data.total else {
                finishFetch(hash, .failure(ArtifactError(.corrupt, "artifact \(hash): the master sent \(data.bytes.count) bytes at offset \(data.offset) of \(data.total); expected offset \(download.received) of \(fetch.size)")))
                return
            }
            fetch.download = nil
            fetch.writing = true
            fetches.byHash[hash] = fetch
            guard let cache = artifactCache else { return }
            let size = fetch.size
            artifactQueue.async { [self] in
                var download = download
                let result = Result { () throws(ArtifactError) -> ArtifactCache.Download? in
                    try download.append(data.bytes)
                    guard download.received == size else { return download }
                    try cache.finish(download, expectedSize: size)
                    return nil
                }
                let completed = if case .success(nil) = result { true } else { false }
                if case .failure = result { cache.abandon(download) }
                eventLoop.execute {
                    self.assumeIsolated { worker in
                        if completed { worker.artifactDownloads += 1 }
                        worker.fetchStarted(hash, result)
                    }
                }
            }
        case .error(_, let text):
            fetches.byHash[hash] = fetch
            finishFetch(hash, .failure(ArtifactError(.notFound, "artifact \(hash): \(text)")))
        default:
            fetches.byHash[hash] = fetch
            finishFetch(hash, .failure(ArtifactError(.corrupt, "artifact \(hash): unexpected reply \(envelope.message.name)")))
        }
    }

    private func finishFetch(_ hash: String, _ result: Result<Void, ArtifactError>) {
        guard let fetch = fetches.byHash.removeValue(forKey: hash) else { return }
        if fetch.requestId != 0 { fetches.requests[fetch.requestId] = nil }
        if case .failure = result, let download = fetch.download, let cache = artifactCache {
            artifactQueue.async { cache.abandon(download) }
        }
        for waiter in fetch.waiters { waiter(result) }
    }

    /// The connection is gone: requests in flight will get no answer; ask again once registered.
    func fetchesLostConnection() {
        fetches.requests.removeAll()
        for hash in fetches.byHash.keys { fetches.byHash[hash]!.requestId = 0 }
    }

    func resumeFetches() {
        for hash in Array(fetches.byHash.keys) { requestChunk(hash) }
    }

    func failFetches(_ reason: String) {
        for hash in Array(fetches.byHash.keys) {
            finishFetch(hash, .failure(ArtifactError(.io, "artifact \(hash): \(reason)")))
        }
    }
}
