import Foundation
import Testing
import TitanClient
import TitanLoop
import TitanProtocol
import TitanRuntime

/// Job output far over the frame limit, read back in pages from a real master's data directory,
/// by the client library, `titan logs` and the original protocol, before and after the master
/// is killed and started again.
@Suite(.serialized) struct LogPagingTests {
    static let lines = 2_500_000  // 16 bytes each: 40 MB

    static func lastLines(_ bytes: [UInt8], _ n: Int) -> [UInt8] {
        var newlines = 0
        var i = bytes.count - 1
        while i > 0 {
            i -= 1
            if bytes[i] == 10 {
                newlines += 1
                if newlines == n { return Array(bytes[(i + 1)...]) }
            }
        }
        return bytes
    }

    static func rfc3339(ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1_000))
    }

    static func followed(_ client: TitanClient, _ id: String) async throws -> (bytes: [UInt8], final: JobState?) {
        var bytes: [UInt8] = []
        var final: JobState?
        for await update in try await client.follow(id, logs: true) {
            switch update {
            case .output(_, let chunk): bytes += chunk
            case .event(let e): if e.state.isFinal { final = e.state }
            }
        }
        return (bytes, final)
    }

    @Test func aLargeJobIsReadBackInPagesBeforeAndAfterAMasterRestart() async throws {
        let data = try DurabilityTests.temporaryDirectory("logs-master")
        let work = try DurabilityTests.temporaryDirectory("logs-work")
        var master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", data])
        let worker = try await NodeProcess(["--role", "worker", "--master", "127.0.0.1:\(try #require(master.port))",
                                            "--id", "w1", "--data-dir", work + "/w1"])
        defer {
            worker.signal(SIGKILL)
            master.signal(SIGKILL)
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: work)
        }
        var address = "127.0.0.1:\(try #require(master.port))"
        var client = try await DurabilityTests.connect(address)
        let command = ["seq", "-f", "%015.0f", "1", "\(Self.lines)"]
        let big = try await client.submit(JobSpec(command: command))
        // A job that prints a line, then another more than a second later.
        let go = work + "/go"
        let small = try await client.submit(JobSpec(command: ["sh", "-c",
            "echo old; while [ ! -e \(go) ]; do sleep 0.01; done; echo new"]))
        try await waitUntil { try await client.logs(small).flatMap(\.bytes) == Array("old\n".utf8) }
        let oldSeen = Time.wallMs()
        try await waitUntil { Time.wallMs() > oldSeen + 1_100 }
        let since = Time.wallMs()
        #expect(FileManager.default.createFile(atPath: go, contents: nil))
        #expect(try await client.wait(small).state == .completed)

        let reference = try await Spawned.start(command)
        #expect(await reference.waitExit(timeout: 60) == 0)
        let expected = Array(reference.stdout.utf8)
        #expect(expected.count == Self.lines * 16)
        try await waitUntil(seconds: 120) { try await client.status(big).state.isFinal }
        #expect(try await client.status(big).state == .completed)

        // Pages: each under the cap, together the whole output, byte for byte.
        var got: [UInt8] = []
        got.reserveCapacity(expected.count)
        var pages = 0
        var ended = false
        for try await page in client.logPages(big) {
            #expect(page.byteCount <= Int(LogRead.maxPageBytes))
            for chunk in page.chunks { got += chunk.bytes }
            pages += 1
            ended = page.end
        }
        #expect(ended)
        #expect(pages >= expected.count / Int(LogRead.maxPageBytes))
        #expect(got.count == expected.count)
        #expect(got == expected)
        // A limit over the cap is capped.
        #expect(try await client.readLogs(LogRead(jobId: big, limit: .max)).byteCount == Int(LogRead.maxPageBytes))

        // titan logs: all of it, the last lines, what came since.
        let cli = try await Tools.run("titan", ["logs", big, "--master", address], timeout: 120)
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout.utf8.count == expected.count)
        #expect(cli.stdout.utf8.elementsEqual(expected))
        let tail = try await Tools.run("titan", ["logs", big, "--tail", "5", "--master", address])
        #expect(Array(tail.stdout.utf8) == Self.lastLines(expected, 5))
        let recent = try await Tools.run("titan", ["logs", small, "--since", Self.rfc3339(ms: since), "--master", address])
        #expect(recent.stdout == "new\n", "\(recent.stderr)")
        #expect(try await Tools.run("titan", ["logs", small, "--since", "10m", "--master", address]).stdout == "old\nnew\n")
        let bad = try await Tools.run("titan", ["logs", small, "--since", "yesterday", "--master", address])
        #expect(bad.status != 0 && bad.stderr.contains("--since"))

        // The old getLogs: bounded, saying what it left out.
        let bounded = try await client.logs(big)
        let note = String(decoding: try #require(bounded.first).bytes, as: UTF8.self)
        #expect(bounded.first?.stream == .stderr)
        #expect(note.contains("\(expected.count - (4 << 20)) earlier bytes") && note.contains("titan logs \(big)"), "\(note)")
        #expect(Array(bounded.dropFirst().flatMap(\.bytes)) == Array(expected.suffix(4 << 20)))

        // The original protocol's GET_LOGS: the last 100 lines.
        let hundred = String(decoding: Self.lastLines(expected, 100).dropLast(), as: UTF8.self)
        #expect(try V1ProtocolTests.call(try #require(master.port), 0x16, big).text == hundred)

        // Killed and started again on the same data directory: the output is still there.
        await client.close()
        master.signal(SIGKILL)
        _ = await master.waitExit()
        master = try await NodeProcess(["--role", "master", "--port", "0", "--data-dir", data])
        address = "127.0.0.1:\(try #require(master.port))"
        client = try await DurabilityTests.connect(address)
        #expect(try await client.logs(small).flatMap(\.bytes) == Array("old\nnew\n".utf8))
        let replayedSmall = try await Self.followed(client, small)
        #expect(replayedSmall.bytes == Array("old\nnew\n".utf8) && replayedSmall.final == .completed)
        var tailPages: [UInt8] = []
        for try await page in client.logPages(big, tailLines: 3) { for chunk in page.chunks { tailPages += chunk.bytes } }
        #expect(tailPages == Self.lastLines(expected, 3))
        #expect(try V1ProtocolTests.call(try #require(master.port), 0x16, big).text == hundred)
        // Following it replays the whole log from disk, a page at a time.
        let replayed = try await Self.followed(client, big)
        #expect(replayed.final == .completed)
        #expect(replayed.bytes.count == expected.count)
        #expect(replayed.bytes == expected)
        await client.close()
    }

    /// `titan logs -f` prints what a running job printed so far, then what it prints, and ends
    /// with the job.
    @Test func followingARunningJobPrintsEverythingOnceAndEndsWithIt() async throws {
        let cluster = try await EmbeddedCluster.start(workers: 1)
        let dir = try DurabilityTests.temporaryDirectory("logs-follow")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = try await TitanClient.connect(to: cluster.masterAddress)
        let id = try await client.submit(JobSpec(command: ["sh", "-c",
            "seq 1 3000; while [ ! -e \(dir)/go ]; do sleep 0.01; done; seq 3001 6000; echo done >&2"]))
        try await waitUntil { try await client.logs(id).reduce(0) { $0 + $1.bytes.count } >= 13_893 }
        let follower = try await Spawned.start([Tools.path("titan"), "logs", "-f", id, "--master", cluster.masterAddress])
        try await waitUntil { follower.stdout.hasSuffix("3000\n") }
        #expect(FileManager.default.createFile(atPath: "\(dir)/go", contents: nil))
        #expect(await follower.waitExit(timeout: 30) == 0)
        #expect(follower.stdout == (1...6000).map { "\($0)\n" }.joined())
        #expect(follower.stderr == "done\n")
        await client.close()
        #expect(await cluster.stop() == 0)
    }
}
