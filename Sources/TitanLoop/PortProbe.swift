import CLibUV

/// Whether a TCP port is free on this host (nothing bound to it on any address).
public enum PortProbe {
    public static func isFree(_ port: Int) -> Bool { titan_tcp_port_is_free(Int32(port)) != 0 }
}
