from fbtui.cli.main import main

main()
