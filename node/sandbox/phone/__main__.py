from alertnode.sandbox.phone.agent import main

main()
