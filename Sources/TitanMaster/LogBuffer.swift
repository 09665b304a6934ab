import TitanProtocol

/// A job's output kept in memory, bounded: past `limitBytes` the oldest chunks are dropped and
/// counted, so a chatty job cannot grow the master without bound.
struct LogBuffer {
    private(set) var chunks: [LogChunk] = []
    private(set) var bytes = 0
    private(set) var droppedBytes = 0
    private var head = 0
    let limitBytes: Int

    init(limitBytes: Int) {
        self.limitBytes = limitBytes
    }

    mutating func append(_ stream: OutputChannel, _ data: [UInt8]) {
        chunks.append(LogChunk(stream: stream, bytes: data))
        bytes += data.count
        while bytes > limitBytes && head < chunks.count - 1 {
            bytes -= chunks[head].bytes.count
            droppedBytes += chunks[head].bytes.count
            chunks[head] = LogChunk(stream: chunks[head].stream, bytes: [])
            head += 1
        }
        if head > 64 && head * 2 > chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }

    /// Forgets everything held (counted as dropped).
    mutating func dropAll() {
        droppedBytes += bytes
        bytes = 0
        chunks = []
        head = 0
    }

    /// Whether the job ever produced output (also after `dropAll`).
    var everWritten: Bool { bytes > 0 || droppedBytes > 0 }

    /// The chunks still held, oldest first.
    var retained: ArraySlice<LogChunk> { chunks[head...] }
}
