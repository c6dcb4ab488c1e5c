from prela.server.cli import main

main()
