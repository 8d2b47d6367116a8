from vid2pose.cli import main

main()
