import Foundation
import TitanProtocol

/// Human and JSON renderings shared by the commands.
enum Output {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Left-aligned columns separated by two spaces.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func duration(ms: Int64) -> String {
        if ms < 1_000 { return "\(ms)ms" }
        if ms < 60_000 { return String(format: "%.1fs", Double(ms) / 1_000) }
        return "\(ms / 60_000)m\((ms / 1_000) % 60)s"
    }

    static func timestamp(ms: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(ms) / 1_000)
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date) + "Z"
    }

    /// `HH:mm:ss.SSS` UTC, for progress lines.
    static func clock(ms: Int64) -> String {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss.SSS"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1_000))
    }

    static func outcome(_ result: JobResult?) -> String {
        guard let r = result else { return "" }
        if r.timedOut { return "timed out after \(duration(ms: r.finishedAtMs - r.startedAtMs))" }
        if let error = r.error { return error }
        if let signal = r.signal { return "killed by signal \(signal)" }
        if let code = r.exitCode { return "exit \(code)" }
        return ""
    }

    static func command(_ spec: JobSpec) -> String {
        spec.command.map { arg in
            arg.isEmpty || arg.contains(where: { " \t\"'$\\".contains($0) }) ? "'\(arg.replacingOccurrences(of: "'", with: "'\\''"))'" : arg
        }.joined(separator: " ")
    }

    /// Prints `items` as JSON, as `empty` when there are none, or as a table of `row`s.
    static func list<T: Encodable>(_ items: [T], json: Bool, empty: String, header: [String],
                                   row: (T) -> [String]) throws {
        if json {
            print(try Output.json(items))
        } else if items.isEmpty {
            print(empty)
        } else {
            print(table(header, items.map(row)))
        }
    }

    /// Writes bytes to stdout or stderr as they are.
    static func write(_ bytes: [UInt8], to stream: OutputChannel) {
        let handle = stream == .stdout ? FileHandle.standardOutput : FileHandle.standardError
        handle.write(Data(bytes))
    }
}
