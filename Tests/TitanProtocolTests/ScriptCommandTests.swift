import Testing
import TitanProtocol

@Suite("How a script runs")
struct ScriptCommandTests {
    @Test func byExtension() {
        #expect(ScriptCommand.command(for: "steps/x.py") == ["python3", "steps/x.py"])
        #expect(ScriptCommand.command(for: "RUN.SH") == ["bash", "RUN.SH"])
        #expect(ScriptCommand.command(for: "bin/tool") == ["./bin/tool"])
        #expect(ScriptCommand.command(for: "/opt/tool") == ["/opt/tool"])
        #expect(ScriptCommand.interpreter(for: "a.pyc") == nil)
    }
}
