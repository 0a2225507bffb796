from services.emulator.server import main

main()
