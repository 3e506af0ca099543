from themis_rm.cli.app import main

main()
