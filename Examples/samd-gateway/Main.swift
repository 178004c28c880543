// Placeholder until samd-gateway is written.
@main
struct Main {
    static func main() {}
}
