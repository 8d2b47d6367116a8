from vid2pose.cli import main

if __name__ == "__main__":  # guarded: spawned training processes import the main module
    main()
