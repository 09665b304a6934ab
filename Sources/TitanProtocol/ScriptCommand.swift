/// How a script file runs, the same for pipelines, `titan run`, `titan deploy` and the original
/// protocol's jobs: `.py` with python3, `.sh` with bash (either case), anything else executed
/// directly.
public enum ScriptCommand {
    /// python3 for `.py`, bash for `.sh`, nil for anything else.
    public static func interpreter(for path: String) -> String? {
        let lowered = path.lowercased()
        if lowered.hasSuffix(".py") { return "python3" }
        if lowered.hasSuffix(".sh") { return "bash" }
        return nil
    }

    /// The command running the script at `path`; executed directly, a relative path gets `./`
    /// so that `PATH` is not searched.
    public static func command(for path: String) -> [String] {
        if let interpreter = interpreter(for: path) { return [interpreter, path] }
        return [path.hasPrefix("/") ? path : "./" + path]
    }
}
